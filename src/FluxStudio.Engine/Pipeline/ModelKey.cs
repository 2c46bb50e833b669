namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// What identifies a loaded model: when any of it changes, the model must be loaded again (the original app's
/// cache rule: model, quantization, path, LoRA files and scales, ControlNet use), plus device and precision.
/// </summary>
public sealed class ModelKey : IEquatable<ModelKey>
{
    public ModelKey(string modelAlias, int? quantize, string? path, IReadOnlyList<string>? loraPaths = null,
        IReadOnlyList<double>? loraScales = null, bool controlNet = false, string device = "cpu", string precision = "fp32")
    {
        ModelAlias = modelAlias;
        Quantize = quantize;
        Path = string.IsNullOrWhiteSpace(path) ? null : path;
        LoraPaths = loraPaths?.ToArray() ?? [];
        LoraScales = loraScales?.ToArray() ?? [];
        ControlNet = controlNet;
        Device = device;
        Precision = precision;
    }

    public string ModelAlias { get; }
    public int? Quantize { get; }
    public string? Path { get; }
    public IReadOnlyList<string> LoraPaths { get; }
    public IReadOnlyList<double> LoraScales { get; }
    public bool ControlNet { get; }
    public string Device { get; }
    public string Precision { get; }

    public bool Equals(ModelKey? other) =>
        other is not null && ModelAlias == other.ModelAlias && Quantize == other.Quantize && Path == other.Path
        && LoraPaths.SequenceEqual(other.LoraPaths) && LoraScales.SequenceEqual(other.LoraScales)
        && ControlNet == other.ControlNet && Device == other.Device && Precision == other.Precision;

    public override bool Equals(object? obj) => Equals(obj as ModelKey);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(ModelAlias);
        hash.Add(Quantize);
        hash.Add(Path);
        foreach (var lora in LoraPaths) hash.Add(lora);
        foreach (var scale in LoraScales) hash.Add(scale);
        hash.Add(ControlNet);
        hash.Add(Device);
        hash.Add(Precision);
        return hash.ToHashCode();
    }

    public override string ToString()
    {
        var loras = LoraPaths.Count == 0 ? "no LoRA"
            : string.Join(", ", LoraPaths.Select((p, i) => $"{System.IO.Path.GetFileName(p)} × {(i < LoraScales.Count ? LoraScales[i] : 1)}"));
        return $"{ModelAlias}{(Path != null ? $" from {Path}" : "")}, {(Quantize is { } q ? $"{q}-bit" : "unquantized")}, {loras}" +
               $"{(ControlNet ? ", ControlNet" : "")}, {Device} {Precision}";
    }
}
