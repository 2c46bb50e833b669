using FluxStudio.Engine.Text.Clip;
using FluxStudio.Engine.Weights;
using TorchSharp;
using static FluxStudio.Engine.Tests.Text.TextEncoderFixture;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Text.Clip;

public sealed class ClipTextModelTests : IDisposable
{
    private const string Model = "clip_tiny_a";
    private static readonly Scalar LegacyEos = ClipTextConfig.LegacyEosTokenId, PositionCount = 77L, OutOfVocabularyId = 200L;
    private readonly SafetensorsFile _golden = TextEncoderFixture.Golden(Model);
    private readonly ClipTextModel _model = ClipTextModel.Load(Folder(Model));
    private readonly string _temp = Directory.CreateTempSubdirectory("fluxstudio-clip-").FullName;

    public void Dispose()
    {
        _model.Dispose();
        _golden.Dispose();
        Directory.Delete(_temp, recursive: true);
    }

    private Tensor Golden(string name) => _golden.Load(name);

    /// <summary>Loads <paramref name="path"/> and checks that it computes the fixture model's pooled output.</summary>
    private void AssertLoadsTheReferenceModel(string path)
    {
        using var model = ClipTextModel.Load(path);
        using var ids = Golden("input_ids");
        using var output = model.forward(ids);
        using var pooled = Golden("pooler_output");

        AssertClose(pooled, output.Pooled, "pooler_output");
    }

    [Fact]
    public void OutputsWithoutMaskMatchTheReference()
    {
        using var ids = Golden("input_ids");
        using var output = _model.forward(ids);

        Assert.Equal(ScalarType.Float32, output.Pooled.dtype);
        using var last = Golden("last_hidden_state");
        using var pooled = Golden("pooler_output");
        AssertClose(last, output.LastHiddenState, "last_hidden_state");
        AssertClose(pooled, output.Pooled, "pooler_output");
        Assert.Empty(output.HiddenStates);
    }

    [Fact]
    public void EmbeddingsAndEveryLayerOutputMatchTheReference()
    {
        using var ids = Golden("input_ids");
        using var output = _model.Encode(ids, outputHiddenStates: true);

        Assert.Equal(_model.Config.NumHiddenLayers + 1, output.HiddenStates.Count);
        for (int i = 0; i < output.HiddenStates.Count; i++)
        {
            using var expected = Golden($"encoder_hidden_states.{i}");
            AssertClose(expected, output.HiddenStates[i], $"encoder_hidden_states.{i}");
        }
    }

    [Fact]
    public void PoolsAtTheFirstEndTokenNotAtTheConfigsEosId()
    {
        using var ids = Golden("input_ids");
        using var expected = Golden("pooled_index");
        using var index = _model.PooledIndex(ids);

        AssertExact(expected, index, "pooled_index");
        // The short prompt holds the config's stale eos_token_id 2 before its real end token.
        Assert.Equal(ClipTextConfig.LegacyEosTokenId, _model.Config.EosTokenId);
        Assert.True(ids[0].eq(LegacyEos).any().item<bool>());
    }

    [Fact]
    public void OutputsWithPaddingMaskMatchTheReference()
    {
        using var ids = Golden("input_ids");
        using var mask = Golden("attention_mask");
        using var output = _model.Encode(ids, mask);

        using var last = Golden("last_hidden_state_with_mask");
        using var pooled = Golden("pooler_output_with_mask");
        AssertClose(last, output.LastHiddenState, "last_hidden_state_with_mask");
        AssertClose(pooled, output.Pooled, "pooler_output_with_mask");
        // The mask changes the padding rows, so the comparison above did test the masked path.
        using var unmasked = Golden("last_hidden_state");
        Assert.False(unmasked.allclose(output.LastHiddenState, rtol: 0, atol: 1e-3));
    }

    [Fact]
    public void EmptyPromptMatchesTheReference()
    {
        using var ids = Golden("input_ids_empty");
        using var output = _model.forward(ids);

        using var last = Golden("last_hidden_state_empty");
        using var pooled = Golden("pooler_output_empty");
        AssertClose(last, output.LastHiddenState, "last_hidden_state_empty");
        AssertClose(pooled, output.Pooled, "pooler_output_empty");
    }

    [Fact]
    public void Bfloat16ComputeRunsAndStaysCloseToFloat32()
    {
        using var model = ClipTextModel.Load(Folder(Model), ScalarType.BFloat16);
        using var ids = Golden("input_ids");
        using var output = model.forward(ids);

        Assert.Equal(ScalarType.BFloat16, output.Pooled.dtype);
        Assert.Equal(ScalarType.BFloat16, model.parameters().First().dtype);
        using var pooled = Golden("pooler_output");
        // bfloat16 keeps 8 significant bits; through two blocks the pooled vector stays within a few percent.
        AssertClose(pooled, output.Pooled, "pooler_output (bf16)", atol: 0.05, rtol: 0.05);
        Assert.False(pooled.allclose(output.Pooled.to(ScalarType.Float32), rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void LoadsFromTheWeightsFileWithTheConfigBesideIt()
    {
        AssertLoadsTheReferenceModel(Path.Combine(Folder(Model), "model.safetensors"));
    }

    [Fact]
    public void IgnoresThePositionIdsBufferOfOlderExports()
    {
        var folder = CopyModel(Model, Path.Combine(_temp, "with-position-ids"),
            tensors => tensors["text_model.embeddings.position_ids"] = arange(PositionCount).unsqueeze(0));
        AssertLoadsTheReferenceModel(folder);
    }

    [Fact]
    public void NamesAMissingTensor()
    {
        var folder = CopyModel(Model, Path.Combine(_temp, "missing"),
            tensors => tensors.Remove("text_model.encoder.layers.1.mlp.fc2.bias"));

        var error = Assert.Throws<WeightLoadException>(() => ClipTextModel.Load(folder));
        Assert.Equal(["text_model.encoder.layers.1.mlp.fc2.bias"], error.Missing);
        Assert.Contains("text_model.encoder.layers.1.mlp.fc2.bias", error.Message);
    }

    [Fact]
    public void NamesAnUnexpectedTensor()
    {
        var folder = CopyModel(Model, Path.Combine(_temp, "extra"),
            tensors => tensors["text_model.encoder.layers.2.mlp.fc1.bias"] = zeros(48));

        var error = Assert.Throws<WeightLoadException>(() => ClipTextModel.Load(folder));
        Assert.Equal(["text_model.encoder.layers.2.mlp.fc1.bias"], error.Unexpected);
        Assert.Empty(error.Missing);
        Assert.Contains("text_model.encoder.layers.2.mlp.fc1.bias", error.Message);
    }

    [Fact]
    public void NamesATensorOfTheWrongShape()
    {
        var folder = CopyModel(Model, Path.Combine(_temp, "wrong-shape"),
            tensors => tensors["text_model.embeddings.token_embedding.weight"] = zeros(201, 24));

        var error = Assert.Throws<WeightLoadException>(() => ClipTextModel.Load(folder));
        Assert.Single(error.WrongShape);
        Assert.Contains("text_model.embeddings.token_embedding.weight [201, 24]", error.Message);
        Assert.Contains("[200, 24]", error.Message);
    }

    [Fact]
    public void ExplainsAMissingConfig()
    {
        var file = Path.Combine(_temp, "clip_l.safetensors");
        File.Copy(Path.Combine(Folder(Model), "model.safetensors"), file);

        var error = Assert.Throws<FileNotFoundException>(() => ClipTextModel.Load(file));
        Assert.Contains("no config.json", error.Message);
        Assert.Contains("ClipTextConfig.FluxClipL", error.Message);
        // With an explicit config the same file loads.
        using var model = ClipTextModel.Load(file, ClipTextConfig.FromFile(Path.Combine(Folder(Model), "config.json")));
        Assert.Equal(200, model.Config.VocabSize);
    }

    [Fact]
    public void RejectsIdsTheModelCannotEmbed()
    {
        using var outOfVocabulary = full(1, 77, OutOfVocabularyId);
        using var tooLong = zeros(1, 78, ScalarType.Int64);
        using var floats = zeros(1, 77);

        Assert.Contains("[0, 200)", Assert.Throws<ArgumentException>(() => _model.forward(outOfVocabulary)).Message);
        Assert.Contains("at most 77 tokens", Assert.Throws<ArgumentException>(() => _model.forward(tooLong)).Message);
        Assert.Contains("int64 or int32", Assert.Throws<ArgumentException>(() => _model.forward(floats)).Message);
    }
}
