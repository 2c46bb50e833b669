using System.Text.Json;
using FluxStudio.Engine.Text.T5;
using FluxStudio.Engine.Weights;
using TorchSharp;
using static FluxStudio.Engine.Tests.Text.TextEncoderFixture;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Text.T5;

public sealed class T5EncoderTests : IDisposable
{
    private const string Model = "t5_tiny_a";
    private static readonly Scalar OutOfVocabularyId = 128L;
    private readonly SafetensorsFile _golden = TextEncoderFixture.Golden(Model);
    private readonly T5Encoder _model = T5Encoder.Load(Folder(Model));
    private readonly string _temp = Directory.CreateTempSubdirectory("fluxstudio-t5-").FullName;

    public void Dispose()
    {
        _model.Dispose();
        _golden.Dispose();
        Directory.Delete(_temp, recursive: true);
    }

    private Tensor Golden(string name) => _golden.Load(name);

    /// <summary>Loads <paramref name="folder"/> and checks that it computes the fixture model's last hidden state.</summary>
    private void AssertLoadsTheReferenceModel(string folder)
    {
        using var model = T5Encoder.Load(folder);
        using var ids = Golden("input_ids");
        using var expected = Golden("last_hidden_state_no_mask");
        using var last = model.forward(ids);

        AssertClose(expected, last, "last_hidden_state_no_mask");
    }

    [Theory]
    [InlineData("relative_position_bucket", 12)]
    [InlineData("relative_position_bucket_long", 150)]
    public void RelativePositionBucketsMatchTheReferenceExactly(string name, int length)
    {
        using var expected = Golden(name);
        using var buckets = T5RelativePositionBias.Buckets(length, length, numBuckets: 32, maxDistance: 128);

        AssertExact(expected, buckets, name);
    }

    [Fact]
    public void BucketBoundariesAreTheDocumentedOnes()
    {
        // Query 0 against keys at distance d: buckets 8..15 start at 8, 12, 16, 23, 32, 46, 64 and 91 (README).
        using var after = T5RelativePositionBias.Buckets(1, 200, 32, 128)[0];
        long[] firstDistance = [8, 12, 16, 23, 32, 46, 64, 91];
        for (int bucket = 8; bucket < 16; bucket++)
        {
            long start = firstDistance[bucket - 8];
            Assert.Equal(16 + bucket, after[start].item<long>());
            Assert.Equal(16 + bucket - 1, after[start - 1].item<long>());
        }
        Assert.Equal(31, after[199].item<long>());
        // Keys before the query use the lower half, without the +16.
        using var before = T5RelativePositionBias.Buckets(200, 1, 32, 128);
        Assert.Equal(15, before[199, 0].item<long>());
        Assert.Equal(7, before[7, 0].item<long>());
    }

    [Fact]
    public void PositionBiasMatchesTheReference()
    {
        using var expected = Golden("position_bias");
        using var bias = _model.PositionBias(12);

        AssertClose(expected, bias, "position_bias");
    }

    [Fact]
    public void EmbeddingsAndEveryBlockOutputMatchTheReference()
    {
        using var ids = Golden("input_ids");
        using var output = _model.Encode(ids, outputHiddenStates: true);

        Assert.Equal(_model.Config.NumLayers + 1, output.HiddenStates.Count);
        using var embeddings = Golden("embeddings");
        AssertClose(embeddings, output.HiddenStates[0], "embeddings");
        for (int block = 0; block < _model.Config.NumLayers; block++)
        {
            using var expected = Golden($"block_output_no_mask.{block}");
            AssertClose(expected, output.HiddenStates[block + 1], $"block_output_no_mask.{block}");
        }
    }

    [Theory]
    [InlineData("input_ids", "last_hidden_state_no_mask")]
    [InlineData("input_ids_long", "last_hidden_state_long_no_mask")]
    public void LastHiddenStateWithoutMaskMatchesTheReference(string input, string output)
    {
        using var ids = Golden(input);
        using var expected = Golden(output);
        using var last = _model.forward(ids);

        Assert.Equal(ScalarType.Float32, last.dtype);
        AssertClose(expected, last, output);
    }

    [Theory]
    [InlineData("input_ids", "attention_mask", "last_hidden_state_with_mask")]
    [InlineData("input_ids_long", "attention_mask_long", "last_hidden_state_long_with_mask")]
    public void LastHiddenStateWithMaskMatchesTheReference(string input, string mask, string output)
    {
        using var ids = Golden(input);
        using var attentionMask = Golden(mask);
        using var expected = Golden(output);
        using var result = _model.Encode(ids, attentionMask);

        AssertClose(expected, result.LastHiddenState, output);
        // In T5 the mask changes every position, so this did test the masked path.
        using var unmasked = Golden(output.Replace("with_mask", "no_mask"));
        Assert.False(unmasked.allclose(result.LastHiddenState, rtol: 0, atol: 1e-3));
    }

    [Fact]
    public void Bfloat16ComputeRunsAndStaysCloseToFloat32()
    {
        using var model = T5Encoder.Load(Folder(Model), ScalarType.BFloat16);
        using var ids = Golden("input_ids_long");
        using var expected = Golden("last_hidden_state_long_no_mask");
        using var last = model.forward(ids);

        Assert.Equal(ScalarType.BFloat16, last.dtype);
        Assert.Equal(ScalarType.BFloat16, model.parameters().First().dtype);
        // bfloat16 keeps 8 significant bits; after two blocks and the final norm outputs stay within a few percent.
        AssertClose(expected, last, "last_hidden_state_long_no_mask (bf16)", atol: 0.08, rtol: 0.05);
        Assert.False(expected.allclose(last.to(ScalarType.Float32), rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void MapsTheTiedEmbeddingNameWhenSharedIsAbsent()
    {
        var folder = CopyModel(Model, Path.Combine(_temp, "tied"), tensors =>
        {
            tensors["encoder.embed_tokens.weight"] = tensors["shared.weight"];
            tensors.Remove("shared.weight");
        });
        AssertLoadsTheReferenceModel(folder);
    }

    [Fact]
    public void AcceptsBothEmbeddingNames()
    {
        var folder = CopyModel(Model, Path.Combine(_temp, "both"),
            tensors => tensors["encoder.embed_tokens.weight"] = tensors["shared.weight"].clone());
        AssertLoadsTheReferenceModel(folder);
    }

    [Fact]
    public void LoadsAShardedCheckpointFolderLikeFluxsTextEncoder2()
    {
        // FLUX.1's text_encoder_2 holds config.json, model.safetensors.index.json and two shards.
        var folder = Directory.CreateDirectory(Path.Combine(_temp, "sharded")).FullName;
        File.Copy(Path.Combine(Folder(Model), "config.json"), Path.Combine(folder, "config.json"));
        using (var source = SafetensorsFile.Open(Path.Combine(Folder(Model), "model.safetensors")))
        {
            var names = source.Names.Order(StringComparer.Ordinal).ToList();
            var weightMap = names.ToDictionary(name => name,
                name => string.CompareOrdinal(name, names[names.Count / 2]) < 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
            foreach (var shard in weightMap.GroupBy(entry => entry.Value))
            {
                var tensors = shard.ToDictionary(entry => entry.Key, entry => source.Load(entry.Key));
                SafetensorsWriter.Write(Path.Combine(folder, shard.Key), tensors);
                foreach (var tensor in tensors.Values) tensor.Dispose();
            }
            File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"),
                JsonSerializer.Serialize(new { metadata = new { }, weight_map = weightMap }));
        }
        Assert.Equal(2, Directory.GetFiles(folder, "*.safetensors").Length);
        AssertLoadsTheReferenceModel(folder);
    }

    [Fact]
    public void NamesAMissingTensor()
    {
        var folder = CopyModel(Model, Path.Combine(_temp, "missing"),
            tensors => tensors.Remove("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"));

        var error = Assert.Throws<WeightLoadException>(() => T5Encoder.Load(folder));
        Assert.Equal(["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], error.Missing);
        Assert.Contains("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", error.Message);
    }

    [Fact]
    public void NamesAnUnexpectedTensor()
    {
        // Only block 0 owns a position bias table; a per-block table (another T5 variant) is reported.
        var folder = CopyModel(Model, Path.Combine(_temp, "extra"),
            tensors => tensors["encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"] = zeros(32, 4));

        var error = Assert.Throws<WeightLoadException>(() => T5Encoder.Load(folder));
        Assert.Equal(["encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"], error.Unexpected);
        Assert.Empty(error.Missing);
    }

    [Fact]
    public void NamesATensorOfTheWrongShape()
    {
        var folder = CopyModel(Model, Path.Combine(_temp, "wrong-shape"),
            tensors => tensors["encoder.block.1.layer.1.DenseReluDense.wi_0.weight"] = zeros(65, 32));

        var error = Assert.Throws<WeightLoadException>(() => T5Encoder.Load(folder));
        Assert.Single(error.WrongShape);
        Assert.Contains("encoder.block.1.layer.1.DenseReluDense.wi_0.weight [65, 32]", error.Message);
        Assert.Contains("[64, 32]", error.Message);
    }

    [Fact]
    public void ExplainsAMissingCheckpoint()
    {
        var path = Path.Combine(_temp, "text_encoder_2");

        var error = Assert.Throws<FileNotFoundException>(() => T5Encoder.Load(path));
        Assert.Contains("the T5 encoder checkpoint does not exist", error.Message);
    }

    [Fact]
    public void RejectsIdsOutsideTheVocabularyAndMismatchedMasks()
    {
        using var ids = Golden("input_ids");
        using var outOfVocabulary = full(1, 8, OutOfVocabularyId);
        using var shortMask = ones(2, 11, ScalarType.Int64);

        Assert.Contains("[0, 128)", Assert.Throws<ArgumentException>(() => _model.forward(outOfVocabulary)).Message);
        Assert.Contains("[2, 12]", Assert.Throws<ArgumentException>(() => _model.Encode(ids, shortMask)).Message);
    }
}
