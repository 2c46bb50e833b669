using System.Text.Json.Nodes;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Tests.Pipeline;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.ControlNet;

/// <summary>Using, changing and dropping a ControlNet on a loaded model, refusing the wrong kind, and quantizing it.</summary>
public sealed class ControlNetLoadingTests
{
    private static LoadedFluxModel LoadModel(bool lowMemory = false, int? quantizeBits = null) =>
        LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(ControlNetTiny.PipelineModel), ComputeTarget.Cpu, lowMemory, quantizeBits);

    private static string CopyControlNet(TempFolder temp, string name, Action<JsonObject>? editConfig = null)
    {
        var folder = Directory.CreateDirectory(Path.Combine(temp.Path, name)).FullName;
        foreach (var file in Directory.GetFiles(ControlNetTiny.ControlNetFolder))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        if (editConfig is not null)
        {
            var configPath = Path.Combine(folder, "config.json");
            var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
            editConfig(config);
            File.WriteAllText(configPath, config.ToJsonString());
        }
        return folder;
    }

    [Fact]
    public void OnlyWhatChangedIsLoaded()
    {
        using var temp = new TempFolder();
        using var model = LoadModel();
        var transformer = model.Transformer;
        var vae = model.Vae;
        Assert.Null(model.ControlNet);

        model.UseControlNet(ControlNetTiny.ControlNetFolder);
        var first = model.ControlNet;
        Assert.NotNull(first);
        model.UseControlNet(ControlNetTiny.ControlNetFolder);
        Assert.Same(first, model.ControlNet);
        Assert.Equal(1, model.ControlNetLoadCount);

        var other = CopyControlNet(temp, "other");
        model.UseControlNet(other);
        Assert.Equal(2, model.ControlNetLoadCount);
        Assert.Equal(other, model.ControlNetPath);

        model.UseControlNet(null);
        Assert.Null(model.ControlNet);
        Assert.Null(model.ControlNetPath);
        Assert.Same(transformer, model.Transformer);
        Assert.Same(vae, model.Vae);
    }

    [Fact]
    public void InLowMemoryModeTheControlNetIsReadWhenAGenerationNeedsIt()
    {
        using var model = LoadModel(lowMemory: true);
        model.UseControlNet(ControlNetTiny.ControlNetFolder);
        Assert.Equal(0, model.ControlNetLoadCount);
        var run = ControlNetTiny.RunNames.First();
        var result = new FluxPipeline(model).Generate(ControlNetTiny.RunOptions(run, RgbImageFile.Read(ControlNetTiny.RunControlImage())));
        Assert.Equal(1, model.ControlNetLoadCount);
        using var golden = GoldenRun.OpenGolden(ControlNetTiny.RunFolder(run));
        GoldenRun.AssertImageWithinOneLevel(golden, result.Image.Pixels);
    }

    [Fact]
    public void AControlImageWithoutAControlNetIsRefused()
    {
        using var model = LoadModel();
        var run = ControlNetTiny.RunNames.First();
        var options = ControlNetTiny.RunOptions(run, RgbImageFile.Read(ControlNetTiny.RunControlImage()));
        var error = Assert.Throws<InvalidOperationException>(() => new FluxPipeline(model).Validate(options));
        Assert.Contains("UseControlNet", error.Message);
    }

    [Theory]
    [InlineData(-0.1f)]
    [InlineData(1.5f)]
    [InlineData(float.NaN)]
    public void AStrengthOutsideZeroToOneIsRefused(float strength)
    {
        using var model = LoadModel();
        model.UseControlNet(ControlNetTiny.ControlNetFolder);
        var run = ControlNetTiny.RunNames.First();
        var options = ControlNetTiny.RunOptions(run, RgbImageFile.Read(ControlNetTiny.RunControlImage()));
        var error = Assert.Throws<ArgumentException>(() =>
            new FluxPipeline(model).Validate(options with { ControlNet = options.ControlNet! with { Strength = strength } }));
        Assert.Contains("strength", error.Message);
    }

    [Fact]
    public void AControlNetOfOtherSizesIsRefusedWithTheSizes()
    {
        using var temp = new TempFolder();
        using var model = LoadModel();
        var wider = CopyControlNet(temp, "wider", config => config["num_attention_heads"] = config["num_attention_heads"]!.GetValue<int>() * 2);
        var error = Assert.Throws<InvalidDataException>(() => model.UseControlNet(wider));
        Assert.Contains("hidden size", error.Message);
        Assert.Null(model.ControlNetPath);
    }

    [Fact]
    public void AnXLabsOrUnionControlNetIsRefused()
    {
        using var temp = new TempFolder();
        using var model = LoadModel();
        var union = CopyControlNet(temp, "union", config => config["num_mode"] = 7);
        var error = Assert.Throws<InvalidDataException>(() => model.UseControlNet(union));
        Assert.Contains("InstantX", error.Message);
    }

    [Fact]
    public void AFolderWithoutConfigSaysWhatItNeeds()
    {
        using var temp = new TempFolder();
        using var model = LoadModel();
        var error = Assert.Throws<FileNotFoundException>(() => model.UseControlNet(temp.Path));
        Assert.Contains("config.json", error.Message);
    }

    [Theory]
    [InlineData(8, 0.02)]
    [InlineData(4, 0.15)]
    public void AQuantizedControlNetStaysCloseToTheReference(int bits, double relativeTolerance)
    {
        using var controlNet = FluxControlNet.Load(ControlNetTiny.ControlNetFolder, quantizeBits: bits);
        var linears = controlNet.modules().OfType<Layers.Linear>().ToList();
        Assert.Contains(linears, linear => linear.Quantized?.Bits == bits);
        Assert.All(controlNet.controlnet_blocks, block => Assert.Null(block.Quantized));
        using var dense = FluxControlNet.Load(ControlNetTiny.ControlNetFolder);
        Assert.True(controlNet.ParameterBytes < dense.ParameterBytes);
        Assert.Equal(controlNet.ParameterBytes, FluxControlNet.EstimateParameterBytes(ControlNetTiny.ControlNetFolder, ScalarType.Float32, bits));
        Assert.Equal(dense.ParameterBytes, FluxControlNet.EstimateParameterBytes(ControlNetTiny.ControlNetFolder, ScalarType.Float32));

        using var golden = ControlNetTiny.Open("controlnet_forward.safetensors");
        using var scope = NewDisposeScope();
        var strengthKey = ControlNetTiny.Manifest.GetProperty("forward_fixture").EnumerateObject().First().Name;
        var residuals = controlNet.Forward(golden.Load("in.hidden_states"), golden.Load("in.controlnet_cond"),
            golden.Load("in.img_ids").unsqueeze(0), golden.Load("in.encoder_hidden_states"), golden.Load("in.txt_ids").unsqueeze(0),
            golden.Load("in.timestep"), golden.Load("in.pooled_projections"), golden.Load("in.guidance"),
            double.Parse(strengthKey[1..], System.Globalization.CultureInfo.InvariantCulture));
        for (int j = 0; j < residuals.Double.Count; j++)
        {
            var expected = golden.Load($"{strengthKey}.controlnet_block_samples.{j}");
            double error = TensorAssert.MaxAbsDiff(expected, residuals.Double[j]) / expected.abs().max().item<float>();
            Assert.True(error < relativeTolerance, $"{bits}-bit residual {j}: relative error {error:F4}");
        }
    }

    [Fact]
    public void AQuantizedModelRunsItsControlNetQuantized()
    {
        using var model = LoadModel(quantizeBits: 8);
        model.UseControlNet(ControlNetTiny.ControlNetFolder);
        Assert.Contains(model.ControlNet!.modules().OfType<Layers.Linear>(), linear => linear.Quantized?.Bits == 8);

        var pipeline = new FluxPipeline(model);
        var run = ControlNetTiny.RunNames.Last();
        var options = ControlNetTiny.RunOptions(run, RgbImageFile.Read(ControlNetTiny.RunControlImage()));
        var guided = pipeline.Generate(options).Image.Pixels;
        var plain = pipeline.Generate(options with { ControlNet = null }).Image.Pixels;
        using var golden = GoldenRun.OpenGolden(ControlNetTiny.RunFolder(run));
        var reference = golden.Load("image_uint8").data<byte>().ToArray();

        double MeanDifference(byte[] a, byte[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Average();
        double toReference = MeanDifference(guided, reference), controlEffect = MeanDifference(plain, reference);
        Assert.True(toReference < controlEffect / 3,
            $"the 8-bit run is {toReference:F1} levels from the reference on average; without ControlNet {controlEffect:F1}");
    }
}
