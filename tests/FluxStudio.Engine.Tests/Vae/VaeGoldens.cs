using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Vae;

/// <summary>The reference VAE run in tests/Fixtures/flux-tiny/vae.safetensors (see the fixture README).</summary>
internal static class VaeGoldens
{
    public static string BflFile => Fixtures.Path("flux-tiny", "vae_bfl", "ae.safetensors");

    public static string BflFolder => Fixtures.Path("flux-tiny", "vae_bfl");

    public static string DiffusersFolder => Fixtures.Path("flux-tiny", "vae_diffusers");

    public static Tensor Load(string name)
    {
        using var file = SafetensorsFile.Open(Fixtures.Path("flux-tiny", "vae.safetensors"));
        return file.Load(name);
    }
}
