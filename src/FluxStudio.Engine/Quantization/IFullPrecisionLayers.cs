namespace FluxStudio.Engine.Quantization;

/// <summary>A model that names linear layers which quantization must leave in full precision.</summary>
public interface IFullPrecisionLayers
{
    /// <summary>Whether the linear layer at <paramref name="layerName"/> (its path in the module tree) stays dense.</summary>
    bool StaysFullPrecision(string layerName);
}
