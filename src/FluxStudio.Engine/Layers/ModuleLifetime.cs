using static TorchSharp.torch;

namespace FluxStudio.Engine.Layers;

public static class ModuleLifetime
{
    /// <summary>
    /// Loads a module so that it outlives any dispose scope the caller is in: a model loaded lazily in the middle
    /// of a generation must not be freed with that generation's intermediate tensors.
    /// </summary>
    public static T LoadUnscoped<T>(Func<T> load) where T : nn.Module
    {
        using var scope = NewDisposeScope();
        var module = load();
        foreach (var (_, parameter) in module.named_parameters()) parameter.DetachFromDisposeScope();
        foreach (var (_, buffer) in module.named_buffers()) buffer.DetachFromDisposeScope();
        return module;
    }
}
