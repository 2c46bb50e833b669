namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// What identifies a loaded model: when any of it changes, the model must be loaded again (model, quantization,
/// path, device and precision). LoRAs and the ControlNet are not part of it: they are attached to the loaded model at
/// run time (<see cref="LoadedFluxModel.UseLoras"/>, <see cref="LoadedFluxModel.UseControlNet"/>), so changing them
/// reloads only them (the original app reloaded the whole model).
/// </summary>
public sealed record ModelKey
{
    public ModelKey(string modelAlias, int? quantize, string? path, string device = "cpu", string precision = "fp32")
    {
        ModelAlias = modelAlias;
        Quantize = quantize;
        Path = string.IsNullOrWhiteSpace(path) ? null : path;
        Device = device;
        Precision = precision;
    }

    public string ModelAlias { get; }
    public int? Quantize { get; }
    public string? Path { get; }
    public string Device { get; }
    public string Precision { get; }

    public override string ToString() =>
        $"{ModelAlias}{(Path != null ? $" from {Path}" : "")}, {(Quantize is { } q ? $"{q}-bit" : "unquantized")}, {Device} {Precision}";
}
