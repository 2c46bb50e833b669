using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Text.Clip;
using FluxStudio.Engine.Text.T5;
using FluxStudio.Engine.Vae;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Memory;

public sealed class ModelFootprintTests(TinyModelFolder tiny) : IClassFixture<TinyModelFolder>
{
    [Theory]
    [InlineData(ScalarType.Float32, null)]
    [InlineData(ScalarType.BFloat16, null)]
    [InlineData(ScalarType.Float32, 8)]
    [InlineData(ScalarType.BFloat16, 4)]
    public void EachPartTakesWhatItsLoaderAllocates(ScalarType dtype, int? bits)
    {
        var location = tiny.Location;
        var footprint = ModelFootprint.Read(location, dtype, bits);

        using var transformer = QuantizedModels.LoadTransformer(location.TransformerPath, dtype, null, location.TransformerParamsJson, bits);
        using var t5 = QuantizedModels.LoadT5(location.TextEncoder2Path, dtype, null, bits);
        using var clip = ClipTextModel.Load(location.TextEncoderPath, dtype);
        using var vae = AutoEncoder.Load(location.VaePath, dtype);
        Assert.Equal(Quantizer.ResidentBytes(transformer), footprint.WeightBytes[ModelPart.Transformer]);
        Assert.Equal(Quantizer.ResidentBytes(t5), footprint.WeightBytes[ModelPart.T5]);
        Assert.Equal(Quantizer.ResidentBytes(clip), footprint.WeightBytes[ModelPart.Clip]);
        Assert.Equal(Quantizer.ResidentBytes(vae), footprint.WeightBytes[ModelPart.Vae]);
        Assert.Equal(bits, footprint.QuantizationBits);
        Assert.Equal(vae.Config, footprint.Vae);
    }

    [Fact]
    public void AStoredQuantizedModelKeepsItsBitWidth()
    {
        using var folder = new TempFolder();
        var stored = folder.File("q8");
        QuantizedModelWriter.Save(tiny.Path, stored, 8);

        var footprint = ModelFootprint.Read(Engine.Models.ModelLocator.FromDiffusersFolder(stored), ScalarType.Float32, quantizeBits: 4);

        Assert.Equal(8, footprint.QuantizationBits);
        Assert.True(footprint.StoredQuantized);
        Assert.Null(footprint.Requantized(4));
    }

    [Fact]
    public void FluxOneSizesComeOutAsPublished()
    {
        ModelFootprint Flux(int? bits) => ModelFootprint.Of(FluxConfig.Dev, T5EncoderConfig.FluxT5Xxl, ClipTextConfig.FluxClipL,
            AutoEncoderConfig.Flux1, ScalarType.BFloat16, bits);
        var dense = Flux(null);

        // 11.9 billion transformer parameters, 4.76 billion in T5-XXL, 123 million in CLIP-L, 84 million in the VAE.
        Assert.InRange(dense.WeightBytes[ModelPart.Transformer] / 2e9, 11.8, 12.0);
        Assert.InRange(dense.WeightBytes[ModelPart.T5] / 2e9, 4.7, 4.8);
        Assert.InRange(dense.WeightBytes[ModelPart.Clip] / 2e6, 120, 125);
        Assert.InRange(dense.WeightBytes[ModelPart.Vae] / 2e6, 80, 86);
        Assert.InRange((double)Flux(8).WeightBytes[ModelPart.Transformer] / dense.WeightBytes[ModelPart.Transformer], 0.5, 0.55);
        Assert.InRange((double)Flux(4).WeightBytes[ModelPart.Transformer] / dense.WeightBytes[ModelPart.Transformer], 0.27, 0.3);
    }
}
