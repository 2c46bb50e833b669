using System.Text.Json;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Text.T5;
using FluxStudio.Engine.Tests;
using SkiaSharp;

namespace FluxStudio.Cli.Tests;

public sealed class MakeRandomModelCommandTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task AFluxWideModelWithFewerBlocksIsStoredQuantizedAndGenerateRunsIt()
    {
        var model = _dir.File("random-dev-q4");
        var made = await CliProcess.RunAsync("make-random-model", model, "--model", "dev", "-q", "4",
            "--double-blocks", "1", "--single-blocks", "1", "--encoder-layers", "1");
        Assert.True(made.ExitCode == 0, made.StandardError);

        // FLUX.1's widths (transformer and T5-XXL) with one block of each kind and one encoder layer.
        var transformer = Path.Combine(model, "transformer");
        var config = FluxConfig.FromFile(Path.Combine(transformer, "config.json"));
        Assert.Equal(FluxConfig.Dev with { Depth = 1, DepthSingleBlocks = 1, AxesDim = [] }, config with { AxesDim = [] });
        Assert.Equal(FluxConfig.Dev.AxesDim, config.AxesDim);
        var t5 = T5EncoderConfig.FromFile(Path.Combine(model, "text_encoder_2", "config.json"));
        Assert.Equal((4096, 10240, 64, 1), (t5.DModel, t5.DFf, t5.NumHeads, t5.NumLayers));
        Assert.Equal(4, QuantizedModels.StoredBits(transformer));
        Assert.Equal(4, QuantizedModels.StoredBits(Path.Combine(model, "text_encoder_2")));
        // The file holds exactly the 4-bit model's tensors (plus its header), not a bf16 one.
        long stored = new FileInfo(Path.Combine(transformer, "diffusion_pytorch_model.safetensors")).Length;
        Assert.InRange(stored - QuantizedBytes(config, 4), 0, 1 << 20);

        var output = _dir.File("random.png");
        var generated = await CliProcess.RunAsync("generate", "--path", model, "--prompt", "a lighthouse", "--seed", "2",
            "--width", "32", "--height", "16", "--steps", "1", "--output", output, "--metadata");
        Assert.True(generated.ExitCode == 0, generated.StandardError);
        using (var bitmap = SKBitmap.Decode(output))
            Assert.Equal((32, 16), (bitmap.Width, bitmap.Height));
        var metadata = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(output, ".json"))).RootElement;
        Assert.Equal("dev", metadata.GetProperty("model").GetString());
        Assert.Equal(4, metadata.GetProperty("quantize").GetInt32());
    }

    [Fact]
    public async Task AFolderThatIsNotEmptyIsRefusedWithASentence()
    {
        File.WriteAllText(_dir.File("keep.txt"), "mine");
        var result = await CliProcess.RunAsync("make-random-model", _dir.Path, "--double-blocks", "0", "--single-blocks", "1", "--encoder-layers", "1");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("not an empty folder", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
        Assert.Equal(["keep.txt"], Directory.EnumerateFileSystemEntries(_dir.Path).Select(Path.GetFileName));
    }

    /// <summary>Bytes of the transformer's tensors once quantized, from a model on the meta device (shapes, no memory).</summary>
    private static long QuantizedBytes(FluxConfig config, int bits)
    {
        using var meta = new FluxTransformer(config, TorchSharp.torch.ScalarType.BFloat16, new TorchSharp.torch.Device(TorchSharp.DeviceType.META));
        Quantizer.PrepareForQuantizedLoading(meta, bits);
        return Quantizer.ResidentBytes(meta);
    }
}
