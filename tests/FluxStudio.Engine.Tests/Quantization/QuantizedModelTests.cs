using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Weights;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.Tests.Quantization;

/// <summary>Saving, loading and running quantized copies of the tiny bf16 pipeline in tests/Fixtures/pipeline-tiny.</summary>
public sealed class QuantizedModelTests : IClassFixture<QuantizedModelTests.SavedModels>
{
    public sealed class SavedModels : IDisposable
    {
        public string Source { get; } = Fixtures.Path("pipeline-tiny", "model");
        public string Root { get; } = Directory.CreateTempSubdirectory("fluxstudio-quant-").FullName;

        public string Folder(int bits) => Path.Combine(Root, $"q{bits}");

        public SavedModels()
        {
            QuantizedModelWriter.Save(Source, Folder(8), 8);
            QuantizedModelWriter.Save(Source, Folder(4), 4);
        }

        public void Dispose() => Directory.Delete(Root, recursive: true);
    }

    private readonly SavedModels _saved;
    private readonly ITestOutputHelper _output;

    public QuantizedModelTests(SavedModels saved, ITestOutputHelper output) => (_saved, _output) = (saved, output);

    private string Part(int bits, string part) => Path.Combine(_saved.Folder(bits), part);

    [Fact]
    public void TheSavedFolderIsACompleteModelWhoseMetadataRecordsTheSettings()
    {
        Assert.Empty(DiffusersFolder.FindMissingParts(_saved.Folder(8)));
        using var transformer = SafetensorsFile.Open(Path.Combine(Part(8, "transformer"), "diffusion_pytorch_model.safetensors"));
        Assert.Equal("8", transformer.Metadata[QuantizedModels.BitsKey]);
        Assert.Equal("64", transformer.Metadata[QuantizedModels.GroupSizeKey]);
        Assert.Equal(Path.GetFullPath(_saved.Source), transformer.Metadata[QuantizedModels.SourceKey]);
        Assert.Equal(ScalarType.Byte, transformer.Info("double_blocks.0.img_attn.qkv.qweight").DType);
        Assert.False(transformer.Contains("double_blocks.0.img_attn.qkv.weight"));
        Assert.Equal(4, QuantizedModels.StoredBits(Part(4, "text_encoder_2")));
        Assert.Null(QuantizedModels.StoredBits(Path.Combine(_saved.Source, "transformer")));
        foreach (var copied in new[] { "vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "tokenizer_2/spiece.model", "model_index.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(_saved.Source, copied)), File.ReadAllBytes(Path.Combine(_saved.Folder(8), copied)));
    }

    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void LoadingASavedModelGivesBitForBitWhatQuantizingWhileLoadingGives(int bits)
    {
        using var loaded = QuantizedModels.LoadTransformer(Part(bits, "transformer"));
        using var fresh = QuantizedModels.LoadTransformer(Path.Combine(_saved.Source, "transformer"), quantizeBits: bits);
        AssertSameState(fresh, loaded);
        var linears = loaded.named_modules().Where(m => m.module is Linear).ToList();
        Assert.Equal(10, linears.Count(m => loaded.StaysFullPrecision(m.name)));
        Assert.All(linears, m => Assert.Equal(loaded.StaysFullPrecision(m.name) ? null : bits, ((Linear)m.module).Quantized?.Bits));

        using var t5 = QuantizedModels.LoadT5(Part(bits, "text_encoder_2"));
        using var freshT5 = QuantizedModels.LoadT5(Path.Combine(_saved.Source, "text_encoder_2"), quantizeBits: bits);
        AssertSameState(freshT5, t5);
        Assert.All(t5.modules().OfType<Linear>(), linear => Assert.Equal(bits, linear.Quantized?.Bits));
    }

    private static void AssertSameState(nn.Module expected, nn.Module actual)
    {
        var want = expected.state_dict();
        var got = actual.state_dict();
        Assert.Equal(want.Keys.Order(), got.Keys.Order());
        foreach (var (name, tensor) in want)
            TensorAssert.Identical(tensor, got[name], name);
    }

    [Fact]
    public void TheTinyPipelineRunsOnTheSavedModelAndOnOneQuantizedWhileLoading()
    {
        var options = new FluxGenerationOptions { Prompt = "a tiny red fox", Seed = 3, Width = 32, Height = 24, Steps = 2, Guidance = 3.5f };
        using var stored = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(_saved.Folder(8)), ComputeTarget.Cpu, lowMemory: true);
        using var atLoad = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(_saved.Source), ComputeTarget.Cpu, lowMemory: true, quantizeBits: 8);
        using var dense = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(_saved.Source), ComputeTarget.Cpu, lowMemory: true);
        Assert.Equal(8, stored.QuantizationBits);
        Assert.Equal(8, atLoad.QuantizationBits);
        Assert.Null(dense.QuantizationBits);

        var fromStored = new FluxPipeline(stored).Generate(options);
        var fromAtLoad = new FluxPipeline(atLoad).Generate(options);
        var fromDense = new FluxPipeline(dense).Generate(options);
        Assert.Equal(fromAtLoad.Image.Pixels, fromStored.Image.Pixels);
        Assert.Equal(fromDense.Image.Pixels.Length, fromStored.Image.Pixels.Length);
        double meanDifference = fromDense.Image.Pixels.Zip(fromStored.Image.Pixels, (a, b) => Math.Abs(a - b)).Average();
        _output.WriteLine($"8-bit vs dense image: mean absolute pixel difference {meanDifference:F3} of 255");
        Assert.True(meanDifference < 4, $"8-bit image differs from the dense one by {meanDifference:F2} per channel on average");
    }

    /// <remarks>
    /// Group-wise 8-bit rounding moves each weight by ~0.54 % rms here (a 64-element group of N(0, σ²) weights spans
    /// ~4.8σ, so the step is ~σ/53). Quantizing every linear layer gives 1.4 % at the output; the embedders and the final
    /// layer stay dense (<see cref="FluxStudio.Engine.Flux.FluxTransformer.StaysFullPrecision"/>), which gives 0.8 %.
    /// </remarks>
    [Fact]
    public void EightBitTransformerOutputIsWithinOnePercentOfTheDenseOne()
    {
        var errors = new Dictionary<int, double>();
        foreach (var bits in new[] { 8, 4 })
        {
            using var scope = NewDisposeScope();
            using var dense = LoadFixtureTransformer();
            using var quantized = LoadFixtureTransformer();
            var report = Quantizer.QuantizeModule(quantized, bits);
            string[] edges = ["img_in", "time_in.in_layer", "time_in.out_layer", "vector_in.in_layer", "vector_in.out_layer",
                "guidance_in.in_layer", "guidance_in.out_layer", "txt_in", "final_layer.linear", "final_layer.adaLN_modulation.1"];
            Assert.Equal(edges.Order(StringComparer.Ordinal), report.LeftDense.Order(StringComparer.Ordinal));
            Assert.Equal(2 * 10 + 2 * 3, report.QuantizedGroupSizes.Count); // every linear layer of the two double and two single blocks
            Assert.Equal(64, report.QuantizedGroupSizes["double_blocks.0.img_mlp.0"]);
            Assert.Equal(64, report.QuantizedGroupSizes["single_blocks.1.linear2"]);

            using var golden = SafetensorsFile.Open(Fixtures.Path("flux-tiny", "forward.safetensors"));
            using var _ = no_grad();
            Tensor Run(FluxStudio.Engine.Flux.FluxTransformer model) => model.Forward(golden.Load("img"), golden.Load("img_ids"),
                golden.Load("txt"), golden.Load("txt_ids"), golden.Load("timesteps"), golden.Load("y"), golden.Load("guidance"));
            var expected = Run(dense);
            errors[bits] = ((Run(quantized) - expected).norm() / expected.norm()).item<float>();
            _output.WriteLine($"{bits}-bit transformer output: relative error {errors[bits]:P3}");
        }
        Assert.True(errors[8] < 0.01, $"8-bit relative error {errors[8]:P3}");
        Assert.True(errors[4] > errors[8], "4 bits should lose more than 8");
    }

    private static FluxStudio.Engine.Flux.FluxTransformer LoadFixtureTransformer()
    {
        var model = new FluxStudio.Engine.Flux.FluxTransformer(
            FluxStudio.Engine.Flux.FluxConfig.FromFile(Fixtures.Path("flux-tiny", "transformer_bfl", "config.json")));
        using var weights = SafetensorsFile.Open(Fixtures.Path("flux-tiny", "transformer_bfl", "flux1-tiny.safetensors"));
        model.LoadWeights(weights);
        return model;
    }

    private string CopyOfSaved(int bits)
    {
        var copy = Path.Combine(_saved.Root, $"copy-{Guid.NewGuid():N}");
        foreach (var file in Directory.EnumerateFiles(_saved.Folder(bits), "*", SearchOption.AllDirectories))
        {
            var destination = Path.Combine(copy, Path.GetRelativePath(_saved.Folder(bits), file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }
        return copy;
    }

    private static void RewriteMetadata(string file, Action<Dictionary<string, string>> change) =>
        EditedCheckpoint.Write(file, file, editMetadata: change);

    [Fact]
    public void ATruncatedQuantizedFileIsReportedAsSuch()
    {
        var copy = CopyOfSaved(8);
        var file = Path.Combine(copy, "transformer", "diffusion_pytorch_model.safetensors");
        using (var stream = new FileStream(file, FileMode.Open)) stream.SetLength(stream.Length / 2);
        var error = Assert.Throws<SafetensorsException>(() => QuantizedModels.LoadTransformer(Path.Combine(copy, "transformer")));
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void ABitWidthThatDoesNotMatchTheStoredTensorsIsReported()
    {
        var copy = CopyOfSaved(8);
        RewriteMetadata(Path.Combine(copy, "transformer", "diffusion_pytorch_model.safetensors"), m => m[QuantizedModels.BitsKey] = "4");
        var error = Assert.Throws<QuantizedModelException>(() => QuantizedModels.LoadTransformer(Path.Combine(copy, "transformer")));
        Assert.Contains("does not fit 4-bit storage", error.Message);
        Assert.Contains("save it again", error.Message);

        RewriteMetadata(Path.Combine(copy, "text_encoder_2", "model.safetensors"), m => m[QuantizedModels.BitsKey] = "3");
        error = Assert.Throws<QuantizedModelException>(() => QuantizedModels.LoadT5(Path.Combine(copy, "text_encoder_2")));
        Assert.Contains("not 4 or 8", error.Message);
    }

    [Fact]
    public void AQuantizedFileOfAnotherModelIsReportedByTensorName()
    {
        var copy = CopyOfSaved(4);
        var config = Path.Combine(copy, "transformer", "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"num_layers\": 2", "\"num_layers\": 3"));
        var error = Assert.Throws<WeightLoadException>(() => QuantizedModels.LoadTransformer(Path.Combine(copy, "transformer")));
        Assert.Contains("double_blocks.2.", error.Message);
    }

    [Fact]
    public void OnlyFourAndEightBitsAreAccepted()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(_saved.Source), ComputeTarget.Cpu, lowMemory: true, quantizeBits: 5));
        Assert.Contains("4 or 8 bits", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedModelWriter.Save(_saved.Source, Path.Combine(_saved.Root, "q2"), 2));
        Assert.False(Directory.Exists(Path.Combine(_saved.Root, "q2")));
    }

    [Fact]
    public void SavingRefusesAnOccupiedTargetAndAnAlreadyQuantizedSource()
    {
        var occupied = Path.Combine(_saved.Root, "occupied");
        Directory.CreateDirectory(occupied);
        File.WriteAllText(Path.Combine(occupied, "keep.txt"), "mine");
        var error = Assert.Throws<IOException>(() => QuantizedModelWriter.Save(_saved.Source, occupied, 8));
        Assert.Contains("not empty", error.Message);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(occupied, "keep.txt")));

        var again = Assert.Throws<InvalidOperationException>(() => QuantizedModelWriter.Save(_saved.Folder(8), Path.Combine(_saved.Root, "twice"), 4));
        Assert.Contains("already quantized (8 bits)", again.Message);
        Assert.False(Directory.Exists(Path.Combine(_saved.Root, "twice")));
        Assert.Empty(Directory.EnumerateDirectories(_saved.Root, ".*partial"));
    }
}
