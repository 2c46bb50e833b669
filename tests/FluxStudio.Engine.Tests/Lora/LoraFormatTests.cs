using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Lora;
using TorchSharp;
using static TorchSharp.torch;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.Tests.Lora;

/// <summary>
/// LoRAs with known factors, written in each naming scheme, applied at run time, against the same factors merged into
/// the weights here by W[rows] += s · alpha/rank · B·A with the row mapping written out by hand.
/// </summary>
public sealed class LoraFormatTests : IDisposable
{
    private const long H = 64, M = 256;
    private static readonly Scalar FactorScale = 0.2f, FiniteValue = 0.1f;

    private readonly TempFolder _folder = new();
    private readonly FluxTransformer _model = LoraTestModel.Load();
    private readonly Tensor _baseOutput;

    public LoraFormatTests() => _baseOutput = LoraTestModel.Forward(_model);

    public void Dispose()
    {
        _model.Dispose();
        _folder.Dispose();
    }

    /// <summary>One module of a test LoRA: where it lands in our weights, and its factor.</summary>
    private sealed record Known(string Weight, long RowStart, Tensor Up, Tensor Down, double Factor, bool SwapHalves = false);

    private sealed record TestLora(string Path, List<Known> Modules);

    private static (Tensor Down, Tensor Up) Factors(long rank, long inFeatures, long rows, int seed)
    {
        using var generator = new Generator((ulong)seed, CPU);
        return (randn([rank, inFeatures], generator: generator).mul(FactorScale), randn([rows, rank], generator: generator).mul(FactorScale));
    }

    private TestLora PeftLora()
    {
        var tensors = new Dictionary<string, Tensor>();
        var known = new List<Known>();
        void Add(string module, string weight, long rowStart, long inFeatures, long rows, float? alpha, int seed, bool swap = false)
        {
            var (down, up) = Factors(4, inFeatures, rows, seed);
            tensors[$"transformer.{module}.lora_A.weight"] = down;
            tensors[$"transformer.{module}.lora_B.weight"] = up;
            if (alpha is { } a) tensors[$"transformer.{module}.alpha"] = LoraTestModel.Alpha(a);
            known.Add(new Known(weight, rowStart, up, down, (alpha ?? 4) / 4.0, swap));
        }
        Add("transformer_blocks.1.attn.to_k", "double_blocks.1.img_attn.qkv.weight", H, H, H, 2, 1);
        Add("transformer_blocks.0.attn.add_v_proj", "double_blocks.0.txt_attn.qkv.weight", 2 * H, H, H, 2, 2);
        Add("transformer_blocks.0.ff_context.net.2", "double_blocks.0.txt_mlp.2.weight", 0, M, H, 1, 3);
        Add("single_transformer_blocks.0.proj_mlp", "single_blocks.0.linear1.weight", 3 * H, H, M, 8, 4);
        Add("single_transformer_blocks.1.attn.to_q", "single_blocks.1.linear1.weight", 0, H, H, 2, 5);
        Add("norm_out.linear", "final_layer.adaLN_modulation.1.weight", 0, H, 2 * H, 2, 6, swap: true);
        tensors["text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight"] = zeros(4, 24);
        return new TestLora(LoraTestModel.Write(_folder.Path, "peft.safetensors", tensors), known);
    }

    private TestLora KohyaLora()
    {
        var tensors = new Dictionary<string, Tensor>();
        var known = new List<Known>();
        void Add(string module, string weight, long inFeatures, long rows, float? alpha, int seed)
        {
            var (down, up) = Factors(4, inFeatures, rows, seed);
            tensors[$"{module}.lora_down.weight"] = down.to(ScalarType.BFloat16);
            tensors[$"{module}.lora_up.weight"] = up.to(ScalarType.BFloat16);
            if (alpha is { } a) tensors[$"{module}.alpha"] = LoraTestModel.Alpha(a);
            known.Add(new Known(weight, 0, up.to(ScalarType.BFloat16).to(ScalarType.Float32), down.to(ScalarType.BFloat16).to(ScalarType.Float32),
                (alpha ?? 4) / 4.0));
        }
        Add("lora_unet_double_blocks_0_img_attn_qkv", "double_blocks.0.img_attn.qkv.weight", H, 3 * H, 2, 11);
        Add("lora_unet_double_blocks_1_txt_mod_lin", "double_blocks.1.txt_mod.lin.weight", H, 6 * H, null, 12);
        Add("lora_unet_single_blocks_1_linear1", "single_blocks.1.linear1.weight", H, 3 * H + M, 1, 13);
        Add("lora_unet_final_layer_adaLN_modulation_1", "final_layer.adaLN_modulation.1.weight", H, 2 * H, 8, 14);
        tensors["lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"] = zeros(4, 24);
        return new TestLora(LoraTestModel.Write(_folder.Path, "kohya.safetensors", tensors), known);
    }

    private TestLora XLabsLora()
    {
        var tensors = new Dictionary<string, Tensor>();
        var known = new List<Known>();
        void Add(string module, string weight, long inFeatures, long rows, int seed)
        {
            var (down, up) = Factors(2, inFeatures, rows, seed);
            tensors[$"{module}.down.weight"] = down;
            tensors[$"{module}.up.weight"] = up;
            known.Add(new Known(weight, 0, up, down, 1.0));
        }
        Add("double_blocks.1.processor.qkv_lora2", "double_blocks.1.txt_attn.qkv.weight", H, 3 * H, 21);
        Add("double_blocks.0.processor.proj_lora1", "double_blocks.0.img_attn.proj.weight", H, H, 22);
        Add("single_blocks.0.processor.qkv_lora", "single_blocks.0.linear1.weight", H, 3 * H, 23);
        Add("single_blocks.1.processor.proj_lora", "single_blocks.1.linear2.weight", H + M, H, 24);
        return new TestLora(LoraTestModel.Write(_folder.Path, "xlabs.safetensors", tensors), known);
    }

    private TestLora Make(LoraFormat format) => format switch
    {
        LoraFormat.Peft => PeftLora(),
        LoraFormat.Kohya => KohyaLora(),
        _ => XLabsLora(),
    };

    private static Tensor MergedOutput(params (TestLora Lora, double Scale)[] loras)
    {
        using var merged = LoraTestModel.Load();
        foreach (var (lora, scale) in loras)
        {
            foreach (var module in lora.Modules)
            {
                var up = module.Up;
                if (module.SwapHalves)
                {
                    // diffusers' norm_out.linear is (scale, shift); BFL's adaLN_modulation.1 is (shift, scale).
                    LoraTestModel.Merge(merged, module.Weight, 0, up.narrow(0, H, H), module.Down, scale * module.Factor);
                    LoraTestModel.Merge(merged, module.Weight, H, up.narrow(0, 0, H), module.Down, scale * module.Factor);
                }
                else
                {
                    LoraTestModel.Merge(merged, module.Weight, module.RowStart, up, module.Down, scale * module.Factor);
                }
            }
        }
        return LoraTestModel.Forward(merged);
    }

    public static TheoryData<LoraFormat> Formats() => [LoraFormat.Peft, LoraFormat.Kohya, LoraFormat.XLabs];

    [Theory]
    [MemberData(nameof(Formats))]
    public void RunTimeAdaptersEqualTheIndependentMerge(LoraFormat format)
    {
        var lora = Make(format);
        using var file = LoraFile.Load(lora.Path, _model.Config);
        Assert.Equal(format, file.Format);
        Assert.Equal(lora.Modules.Count, file.Modules.Count);

        using var set = LoraSet.Attach(_model, [(file, 0.7)]);
        var actual = LoraTestModel.Forward(_model);
        var expected = MergedOutput((lora, 0.7));

        Assert.True(TensorAssert.MaxAbsDiff(_baseOutput, expected) > 0.05, "the test LoRA should change the output clearly");
        TensorAssert.Close(expected, actual, 2e-5, $"{format} LoRA at run time vs merged");
    }

    [Fact]
    public void TwoLorasAdd()
    {
        var peft = PeftLora();
        var kohya = KohyaLora();
        using var peftFile = LoraFile.Load(peft.Path, _model.Config);
        using var kohyaFile = LoraFile.Load(kohya.Path, _model.Config);
        using var set = LoraSet.Attach(_model, [(peftFile, 0.8), (kohyaFile, -0.6)]);

        var actual = LoraTestModel.Forward(_model);
        var expected = MergedOutput((peft, 0.8), (kohya, -0.6));
        TensorAssert.Close(expected, actual, 2e-5, "PEFT × 0.8 + kohya × −0.6");
        Assert.True(TensorAssert.MaxAbsDiff(MergedOutput((peft, 0.8)), actual) > 0.05, "the second LoRA should count");
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void ScaleZeroEqualsNoLoraExactly(LoraFormat format)
    {
        using var file = LoraFile.Load(Make(format).Path, _model.Config);
        using var set = LoraSet.Attach(_model, [(file, 0.0)]);
        TensorAssert.Identical(_baseOutput, LoraTestModel.Forward(_model), "output with a LoRA at scale 0");
    }

    [Fact]
    public void ScaleChangesWithoutReloadingAnything()
    {
        var lora = KohyaLora();
        using var before = _model.named_parameters().Single(p => p.name == "double_blocks.0.img_attn.qkv.weight").parameter.clone();
        LoraSet set;
        using (var file = LoraFile.Load(lora.Path, _model.Config))
            set = LoraSet.Attach(_model, [(file, 1.0)]);
        using var attached = set;
        // The file is gone and its tensors freed: whatever happens next cannot come from reading it again.
        File.Delete(lora.Path);

        TensorAssert.Close(MergedOutput((lora, 1.0)), LoraTestModel.Forward(_model), 2e-5, "scale 1.0");
        set.SetScale(0, 0.3);
        TensorAssert.Close(MergedOutput((lora, 0.3)), LoraTestModel.Forward(_model), 2e-5, "scale changed to 0.3");
        set.Loras[0].Scale = 0;
        TensorAssert.Identical(_baseOutput, LoraTestModel.Forward(_model), "scale changed to 0");

        var after = _model.named_parameters().Single(p => p.name == "double_blocks.0.img_attn.qkv.weight").parameter;
        TensorAssert.Identical(before, after, "base weight while scales change");
    }

    [Fact]
    public void DisposingTheSetDetachesEveryAdapter()
    {
        using var file = LoraFile.Load(PeftLora().Path, _model.Config);
        var set = LoraSet.Attach(_model, [(file, 1.0)]);
        Assert.Contains(_model.modules().OfType<Linear>(), layer => layer.Adapters.Count > 0);
        set.Dispose();
        Assert.All(_model.modules().OfType<Linear>(), layer => Assert.Empty(layer.Adapters));
        TensorAssert.Identical(_baseOutput, LoraTestModel.Forward(_model), "output after removing the LoRA");
    }

    [Fact]
    public void FusingGivesTheRunTimeResultAndFixesTheScale()
    {
        var lora = XLabsLora();
        using var file = LoraFile.Load(lora.Path, _model.Config);
        using var set = LoraSet.Attach(_model, [(file, 0.9)]);
        var runTime = LoraTestModel.Forward(_model);
        set.Fuse();

        Assert.All(_model.modules().OfType<Linear>(), layer => Assert.Empty(layer.Adapters));
        TensorAssert.Close(runTime, LoraTestModel.Forward(_model), 2e-5, "fused vs run time");
        TensorAssert.Close(MergedOutput((lora, 0.9)), LoraTestModel.Forward(_model), 2e-5, "fused vs independent merge");
        var error = Assert.Throws<InvalidOperationException>(() => set.SetScale(0, 0.5));
        Assert.Contains("reload the model", error.Message);
    }

    [Fact]
    public void PeftModulesWithoutAlphaTakeTheMostCommonAlphaOfTheFile()
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (module, alpha) in new (string, float?)[] { ("attn.to_q", 2), ("attn.to_k", 2), ("attn.to_v", 8), ("attn.to_out.0", null) })
        {
            tensors[$"transformer.transformer_blocks.0.{module}.lora_A.weight"] = ones(4, H);
            tensors[$"transformer.transformer_blocks.0.{module}.lora_B.weight"] = ones(H, 4);
            if (alpha is { } a) tensors[$"transformer.transformer_blocks.0.{module}.alpha"] = LoraTestModel.Alpha(a);
        }
        using var file = LoraFile.Load(LoraTestModel.Write(_folder.Path, "partial.safetensors", tensors), _model.Config);
        var factors = file.Modules.ToDictionary(module => module.Source, module => module.Factor);
        Assert.Equal(0.5, factors["transformer.transformer_blocks.0.attn.to_q"]);
        Assert.Equal(2.0, factors["transformer.transformer_blocks.0.attn.to_v"]);
        Assert.Equal(0.5, factors["transformer.transformer_blocks.0.attn.to_out.0"]);
    }

    [Fact]
    public void FusingIntoNonFloatWeightsIsRefused()
    {
        // Integer storage stands in for quantized weights: there is nothing to add a float update to.
        using var integerModel = new FluxTransformer(_model.Config, ScalarType.Int8);
        using var file = LoraFile.Load(KohyaLora().Path, _model.Config);
        using var set = LoraSet.Attach(integerModel, [(file, 1.0)]);
        var error = Assert.Throws<InvalidOperationException>(set.Fuse);
        Assert.Contains("run time", error.Message);
        Assert.False(set.IsFused);
        set.SetScale(0, 0.5);
    }

    [Fact]
    public void KeysThatMatchNothingAreListedByName()
    {
        using var peft = LoraFile.Load(PeftLora().Path, _model.Config);
        Assert.Equal(["text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight"], peft.UnmatchedKeys);
        using var kohya = LoraFile.Load(KohyaLora().Path, _model.Config);
        Assert.Equal(["lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"], kohya.UnmatchedKeys);
    }

    [Fact]
    public void AFileWhereNothingMatchesIsRefusedWithItsKeys()
    {
        string path = LoraTestModel.Write(_folder.Path, "other.safetensors", new Dictionary<string, Tensor>
        {
            ["transformer.transformer_blocks.7.attn.to_q.lora_A.weight"] = zeros(4, H),
            ["transformer.transformer_blocks.7.attn.to_q.lora_B.weight"] = zeros(H, 4),
        });
        var error = Assert.Throws<LoraFormatException>(() => LoraFile.Load(path, _model.Config));
        Assert.Contains("transformer.transformer_blocks.7.attn.to_q.lora_A.weight", error.Message);
        Assert.Contains("not a LoRA for this model", error.Message);
    }

    [Fact]
    public void AShapeMismatchIsRefusedWithAClearMessage()
    {
        // A LoRA made for a model with hidden size 3072 (FLUX.1) does not fit the tiny one.
        string path = LoraTestModel.Write(_folder.Path, "big.safetensors", new Dictionary<string, Tensor>
        {
            ["lora_unet_double_blocks_0_img_attn_proj.lora_down.weight"] = zeros(4, 3072),
            ["lora_unet_double_blocks_0_img_attn_proj.lora_up.weight"] = zeros(3072, 4),
        });
        var error = Assert.Throws<LoraFormatException>(() => LoraFile.Load(path, _model.Config));
        Assert.Contains("lora_unet_double_blocks_0_img_attn_proj", error.Message);
        Assert.Contains("[4, 3072]", error.Message);
        Assert.Contains("different model", error.Message);
    }

    [Theory]
    [InlineData("lora_down.weight", double.NaN)]
    [InlineData("lora_up.weight", double.PositiveInfinity)]
    [InlineData("lora_up.weight", double.NegativeInfinity)]
    [InlineData("alpha", double.NaN)]
    public void AFileHoldingNaNOrInfinityIsRefusedByName(string part, double bad)
    {
        const string module = "lora_unet_double_blocks_0_img_attn_proj";
        var tensors = new Dictionary<string, Tensor>
        {
            [$"{module}.lora_down.weight"] = full(4, H, FiniteValue),
            [$"{module}.lora_up.weight"] = full(H, 4, FiniteValue),
            [$"{module}.alpha"] = tensor(4f),
        };
        tensors[$"{module}.{part}"].view(-1)[0] = tensor(bad);
        string path = LoraTestModel.Write(_folder.Path, "diverged.safetensors", tensors);

        var error = Assert.Throws<LoraFormatException>(() => LoraFile.Load(path, _model.Config));

        Assert.Contains("diverged.safetensors", error.Message);
        Assert.Contains($"'{module}.{part}' holds NaN or infinite values", error.Message);
    }

    [Fact]
    public void ANonFiniteScaleIsRefused()
    {
        using var file = LoraFile.Load(XLabsLora().Path, _model.Config);
        Assert.Throws<ArgumentOutOfRangeException>(() => LoraSet.Attach(_model, [(file, double.NaN)]));
        Assert.All(_model.modules().OfType<Linear>(), layer => Assert.Empty(layer.Adapters));
    }

    [Fact]
    public void TheCatalogueListsEveryLinearLayerOfTheModel()
    {
        var fromModel = _model.named_modules().Where(pair => pair.module is Linear)
            .ToDictionary(pair => pair.name, pair => new LinearShape(((Linear)pair.module).InFeatures, ((Linear)pair.module).OutFeatures));
        var catalogue = FluxLinearCatalog.For(_model.Config);
        Assert.Equal(fromModel.OrderBy(p => p.Key, StringComparer.Ordinal), catalogue.OrderBy(p => p.Key, StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(new[] { "a.lora_down.weight", "b.processor.x.down.weight" }, LoraFormat.Kohya)]
    [InlineData(new[] { "double_blocks.0.processor.qkv_lora1.down.weight" }, LoraFormat.XLabs)]
    [InlineData(new[] { "transformer.transformer_blocks.0.attn.to_q.lora_A.weight" }, LoraFormat.Peft)]
    public void FormatIsDetectedInDiffusersOrder(string[] keys, LoraFormat expected) => Assert.Equal(expected, LoraKeyMap.Detect(keys));
}
