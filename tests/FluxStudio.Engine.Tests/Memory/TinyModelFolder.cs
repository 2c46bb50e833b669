using FluxStudio.Engine.Models;
using FluxStudio.Engine.TinyModel;

namespace FluxStudio.Engine.Tests.Memory;

/// <summary>One tiny schnell model written by <see cref="TinyModelWriter"/>, shared by a test class.</summary>
public sealed class TinyModelFolder : IDisposable
{
    private readonly TempFolder _folder = new();

    public TinyModelFolder() => TinyModelWriter.Write(Path, dev: false, seed: 6);

    public string Path => _folder.File("schnell");

    public ModelLocation Location => ModelLocator.FromDiffusersFolder(Path);

    public void Dispose() => _folder.Dispose();
}
