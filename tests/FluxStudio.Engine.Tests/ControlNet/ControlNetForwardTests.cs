using System.Globalization;
using System.Text.RegularExpressions;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.ControlNet;

/// <summary>
/// The ControlNet alone and the transformer's residual injection against controlnet_forward.safetensors and
/// injection.safetensors of tests/Fixtures/controlnet-tiny.
/// </summary>
public sealed partial class ControlNetForwardTests
{
    [Fact]
    public void TheFileLoadsUnderOurNamesWithEveryParameter()
    {
        using var controlNet = FluxControlNet.Load(ControlNetTiny.ControlNetFolder);
        var config = ControlNetTiny.Manifest.GetProperty("controlnet_config");
        Assert.Equal(config.GetProperty("num_layers").GetInt32(), controlNet.Config.Depth);
        Assert.Equal(config.GetProperty("num_single_layers").GetInt32(), controlNet.Config.DepthSingleBlocks);
        Assert.Equal(ControlNetTiny.Manifest.GetProperty("controlnet_param_count").GetInt64(),
            controlNet.parameters().Sum(p => p.NumberOfElements));
        Assert.Equal(controlNet.parameters().Sum(p => p.NumberOfElements * 4), controlNet.ParameterBytes);
    }

    public static TheoryData<string> Strengths() =>
        [.. ControlNetTiny.Manifest.GetProperty("forward_fixture").EnumerateObject().Select(entry => entry.Name)];

    [Theory]
    [MemberData(nameof(Strengths))]
    public void ForwardMatchesTheReferenceWithEveryIntermediate(string strengthKey)
    {
        using var controlNet = FluxControlNet.Load(ControlNetTiny.ControlNetFolder);
        using var golden = ControlNetTiny.Open("controlnet_forward.safetensors");
        using var scope = NewDisposeScope();
        double strength = double.Parse(strengthKey[1..], CultureInfo.InvariantCulture);
        var observed = new Dictionary<string, Tensor>();

        var residuals = controlNet.Forward(golden.Load("in.hidden_states"), golden.Load("in.controlnet_cond"),
            golden.Load("in.img_ids").unsqueeze(0), golden.Load("in.encoder_hidden_states"), golden.Load("in.txt_ids").unsqueeze(0),
            golden.Load("in.timestep"), golden.Load("in.pooled_projections"), golden.Load("in.guidance"), strength,
            (name, value) => observed[name] = value.clone().MoveToOuterDisposeScope());

        var intermediates = golden.Names.Where(name => name.StartsWith("mid.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(intermediates);
        foreach (var name in intermediates)
            TensorAssert.Close(golden.Load(name), observed[OurName(name)], 1e-4, name);

        var expected = ControlNetTiny.Manifest.GetProperty("forward_fixture").GetProperty(strengthKey);
        Assert.Equal(expected.GetProperty("n_block_samples").GetInt32(), residuals.Double.Count);
        Assert.Equal(expected.GetProperty("n_single_block_samples").GetInt32(), residuals.Single.Count);
        for (int j = 0; j < residuals.Double.Count; j++)
            TensorAssert.Close(golden.Load($"{strengthKey}.controlnet_block_samples.{j}"), residuals.Double[j], 1e-4, $"block residual {j}");
        for (int j = 0; j < residuals.Single.Count; j++)
            TensorAssert.Close(golden.Load($"{strengthKey}.controlnet_single_block_samples.{j}"), residuals.Single[j], 1e-4, $"single residual {j}");
    }

    /// <summary>A reference intermediate's name (diffusers' modules) as the ControlNet reports it (BFL's).</summary>
    private static string OurName(string reference)
    {
        var name = reference["mid.".Length..];
        if (DoubleBlock().Match(name) is { Success: true } d) return $"double_blocks.{d.Groups[1].Value}.img";
        if (SingleBlock().Match(name) is { Success: true } s) return $"single_blocks.{s.Groups[1].Value}.img";
        return name switch
        {
            "x_embedder.out" => "img_in",
            "controlnet_x_embedder.out" => "controlnet_x_embedder",
            "temb" => "vec",
            _ => throw new InvalidDataException($"no counterpart for the reference intermediate {reference}"),
        };
    }

    [GeneratedRegex(@"^transformer_blocks\.(\d+)\.hidden_states$")]
    private static partial Regex DoubleBlock();

    [GeneratedRegex(@"^single_transformer_blocks\.(\d+)\.hidden_states$")]
    private static partial Regex SingleBlock();

    [Fact]
    public void EachBlockTakesTheResidualOfTheIntervalRule()
    {
        var transformer = ModelLocator.FromDiffusersFolder(ControlNetTiny.PipelineModel).TransformerPath;
        var config = FluxTransformer.ReadConfig(transformer);
        foreach (var entry in ControlNetTiny.Manifest.GetProperty("injection_cases").EnumerateObject())
        {
            foreach (var (count, blocks, expectedKey) in new[]
                     {
                         ("n_block_samples", config.Depth, "sample_index_per_double_block"),
                         ("n_single_block_samples", config.DepthSingleBlocks, "sample_index_per_single_block"),
                     })
            {
                int residuals = entry.Value.GetProperty(count).GetInt32();
                var expected = entry.Value.GetProperty(expectedKey);
                var actual = Enumerable.Range(0, blocks).Select(block => BlockResiduals.IndexFor(block, blocks, residuals)).ToArray();
                if (expected.ValueKind == System.Text.Json.JsonValueKind.Null)
                    Assert.All(actual, index => Assert.Null(index));
                else
                    Assert.Equal(expected.EnumerateArray().Select(index => (int?)index.GetInt32()), actual);
            }
        }
    }

    [Fact]
    public void TheInjectionRuleIsLaidOutOverFLUX1sDepth()
    {
        // 19 double blocks and InstantX Canny's 5 residuals: an interval of 4, the last residual for blocks 16–18.
        var indices = Enumerable.Range(0, FluxConfig.Dev.Depth).Select(block => BlockResiduals.IndexFor(block, FluxConfig.Dev.Depth, 5)).ToArray();
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4], indices.Select(i => i!.Value));
    }

    public static TheoryData<string> InjectionCases()
    {
        using var golden = ControlNetTiny.Open("injection.safetensors");
        return [.. golden.Names.Where(name => name.EndsWith(".output", StringComparison.Ordinal)).Select(name => name[..^".output".Length])];
    }

    [Theory]
    [MemberData(nameof(InjectionCases))]
    public void TheTransformerAddsTheResidualsLikeTheReference(string injectionCase)
    {
        using var transformer = FluxTransformer.Load(ModelLocator.FromDiffusersFolder(ControlNetTiny.PipelineModel).TransformerPath);
        using var golden = ControlNetTiny.Open("injection.safetensors");
        using var scope = NewDisposeScope();
        List<Tensor> Residuals(string kind) =>
            [.. Enumerable.Range(0, golden.Names.Count(name => name.StartsWith($"{injectionCase}.{kind}.", StringComparison.Ordinal)))
                .Select(j => golden.Load($"{injectionCase}.{kind}.{j}"))];
        var residuals = new BlockResiduals(Residuals("block_samples"), Residuals("single_block_samples"));

        var output = transformer.Forward(golden.Load("in.hidden_states"), golden.Load("in.img_ids").unsqueeze(0),
            golden.Load("in.encoder_hidden_states"), golden.Load("in.txt_ids").unsqueeze(0), golden.Load("in.timestep"),
            golden.Load("in.pooled_projections"), golden.Load("in.guidance"), residuals: residuals);
        TensorAssert.Close(golden.Load($"{injectionCase}.output"), output, 1e-4, $"output of {injectionCase}");

        var plain = transformer.Forward(golden.Load("in.hidden_states"), golden.Load("in.img_ids").unsqueeze(0),
            golden.Load("in.encoder_hidden_states"), golden.Load("in.txt_ids").unsqueeze(0), golden.Load("in.timestep"),
            golden.Load("in.pooled_projections"), golden.Load("in.guidance"));
        if (residuals.Double.Count + residuals.Single.Count == 0)
            TensorAssert.Identical(plain, output, "the output with empty residual lists");
        else
            Assert.True(TensorAssert.MaxAbsDiff(plain, output) > 1e-2, "the residuals changed nothing");
    }
}
