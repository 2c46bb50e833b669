namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// What identifies a loaded model: when any of it changes, the model must be loaded again (model, quantization,
/// path, ControlNet use, device and precision). LoRAs are not part of it: they are applied at run time, so
/// changing them or their scales needs no reload (the original app reloaded the whole model).
/// </summary>
public sealed record ModelKey
{
    public ModelKey(string modelAlias, int? quantize, string? path, bool controlNet = false, string device = "cpu",
        string precision = "fp32")
    {
        ModelAlias = modelAlias;
        Quantize = quantize;
        Path = string.IsNullOrWhiteSpace(path) ? null : path;
        ControlNet = controlNet;
        Device = device;
        Precision = precision;
    }

    public string ModelAlias { get; }
    public int? Quantize { get; }
    public string? Path { get; }
    public bool ControlNet { get; }
    public string Device { get; }
    public string Precision { get; }

    public override string ToString() =>
        $"{ModelAlias}{(Path != null ? $" from {Path}" : "")}, {(Quantize is { } q ? $"{q}-bit" : "unquantized")}" +
        $"{(ControlNet ? ", ControlNet" : "")}, {Device} {Precision}";
}
