using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Engine.Tests.Lora;

/// <summary>Run-time LoRAs only need a layer's input and output, so they work on quantized layers too.</summary>
public sealed class LoraOnQuantizedModelTests
{
    private static FluxGenerationOptions Options => new()
    {
        Prompt = "a photo of a cat wearing a tiny wizard hat", Seed = 42, Width = 48, Height = 32, Steps = 4, Guidance = 3.5f,
    };

    [Fact]
    public void ALoraChangesAnEightBitModelAndScaleZeroLeavesItUnchanged()
    {
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(Fixtures.Path("pipeline-tiny", "model")),
            ComputeTarget.Cpu, lowMemory: false, quantizeBits: 8);
        Assert.Equal(8, model.QuantizationBits);
        var pipeline = new FluxPipeline(model);
        var plain = pipeline.Generate(Options).Image.Pixels;

        var lora = Fixtures.Path("lora-tiny", "lora_kohya.safetensors");
        model.UseLoras([(lora, 1.0)]);
        var withLora = pipeline.Generate(Options).Image.Pixels;
        model.UseLoras([(lora, 0.0)]);
        var atZero = pipeline.Generate(Options).Image.Pixels;

        Assert.Equal(1, model.LoraAttachCount);
        double meanChange = plain.Zip(withLora, (a, b) => Math.Abs(a - b)).Average();
        Assert.True(meanChange > 5, $"the LoRA moved pixels by only {meanChange:F2} levels on average");
        Assert.Equal(plain, atZero);
    }
}
