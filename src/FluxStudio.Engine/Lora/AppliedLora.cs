namespace FluxStudio.Engine.Lora;

/// <summary>One LoRA file attached to a transformer through a <see cref="LoraSet"/>, with its current scale.</summary>
public sealed class AppliedLora
{
    private readonly LoraSet _set;
    private double _scale;

    internal AppliedLora(LoraSet set, LoraFile file, double scale)
    {
        _set = set;
        Path = file.Path;
        Format = file.Format;
        ModuleCount = file.Modules.Count;
        UnmatchedKeys = file.UnmatchedKeys;
        _scale = CheckScale(scale);
    }

    public string Path { get; }

    public LoraFormat Format { get; }

    public int ModuleCount { get; }

    public IReadOnlyList<string> UnmatchedKeys { get; }

    /// <summary>The user's strength; read on every forward pass, so setting it needs no reload. 0 switches the LoRA off.</summary>
    public double Scale
    {
        get => _scale;
        set
        {
            _set.ThrowIfFused();
            _scale = CheckScale(value);
        }
    }

    private static double CheckScale(double scale) =>
        double.IsFinite(scale) ? scale : throw new ArgumentOutOfRangeException(nameof(scale), scale, "A LoRA scale must be a finite number.");
}
