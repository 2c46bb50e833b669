using System.Text.Json.Nodes;
using FluxStudio.Engine.Text.T5;

namespace FluxStudio.Engine.Tests.Text.T5;

public sealed class T5EncoderConfigTests
{
    private static readonly string FixtureConfig = Path.Combine(TextEncoderFixture.Folder("t5_tiny_a"), "config.json");

    private static string EditedFixtureConfig(Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(FixtureConfig))!.AsObject();
        edit(json);
        return json.ToJsonString();
    }

    [Fact]
    public void ReadsTheFixtureConfig()
    {
        var config = T5EncoderConfig.FromFile(FixtureConfig);

        Assert.Equal(new T5EncoderConfig(VocabSize: 128, DModel: 32, DKv: 8, NumHeads: 4, DFf: 64, NumLayers: 2,
            RelativeAttentionNumBuckets: 32, RelativeAttentionMaxDistance: 128, LayerNormEpsilon: 1e-6,
            T5Activation.GeluTanh), config);
        Assert.Equal(32, config.InnerDim);
    }

    [Fact]
    public void FluxT5XxlHasTheRealSizes()
    {
        var config = T5EncoderConfig.FluxT5Xxl;

        Assert.Equal((4096, 64, 64, 10240, 24, 32128), (config.DModel, config.DKv, config.NumHeads, config.DFf,
            config.NumLayers, config.VocabSize));
        Assert.Equal((32, 128, 1e-6, T5Activation.GeluTanh), (config.RelativeAttentionNumBuckets,
            config.RelativeAttentionMaxDistance, config.LayerNormEpsilon, config.FeedForwardActivation));
        Assert.Equal(4096, config.InnerDim);
    }

    [Fact]
    public void GoogleStyleGatedGeluMeansTheTanhGelu()
    {
        var config = T5EncoderConfig.FromJson(EditedFixtureConfig(c =>
        {
            c.Remove("dense_act_fn");
            c.Remove("is_gated_act");
            c["feed_forward_proj"] = "gated-gelu";
        }));

        Assert.Equal(T5Activation.GeluTanh, config.FeedForwardActivation);
    }

    [Theory]
    [InlineData("gated-silu", null, T5Activation.Silu)]
    [InlineData("gated-relu", null, T5Activation.Relu)]
    [InlineData("gated-gelu", "gelu", T5Activation.Gelu)]
    [InlineData(null, "gelu_new", T5Activation.GeluTanh)]
    public void ExplicitEntriesOverrideTheProjectionName(string? projection, string? activation, T5Activation expected)
    {
        var config = T5EncoderConfig.FromJson(EditedFixtureConfig(c =>
        {
            c.Remove("dense_act_fn");
            if (projection != null) c["feed_forward_proj"] = projection;
            if (activation != null) c["dense_act_fn"] = activation;
        }));

        Assert.Equal(expected, config.FeedForwardActivation);
    }

    [Fact]
    public void RefusesTheUngatedFeedForwardOfOriginalT5()
    {
        var json = EditedFixtureConfig(c =>
        {
            c.Remove("dense_act_fn");
            c.Remove("is_gated_act");
        });

        var error = Assert.Throws<InvalidDataException>(() => T5EncoderConfig.FromJson(json));
        Assert.Contains("ungated feed-forward", error.Message);
    }

    [Theory]
    [InlineData("d_kv")]
    [InlineData("num_layers")]
    [InlineData("d_ff")]
    public void NamesAMissingSize(string field)
    {
        var json = EditedFixtureConfig(config => config.Remove(field));

        var error = Assert.Throws<InvalidDataException>(() => T5EncoderConfig.FromJson(json, "text_encoder_2/config.json"));
        Assert.Contains($"\"{field}\" is missing", error.Message);
        Assert.StartsWith("text_encoder_2/config.json", error.Message);
    }

    [Fact]
    public void RejectsInconsistentOrUnsupportedValues()
    {
        string Message(Action<JsonObject> edit) =>
            Assert.Throws<InvalidDataException>(() => T5EncoderConfig.FromJson(EditedFixtureConfig(edit))).Message;

        Assert.Contains("expected \"t5\"", Message(c => c["model_type"] = "umt5"));
        Assert.Contains("activation \"gelu_fast\" is not supported", Message(c => c["dense_act_fn"] = "gelu_fast"));
        Assert.Contains("multiple of 4", Message(c => c["relative_attention_num_buckets"] = 30));
        Assert.Contains("must exceed", Message(c => c["relative_attention_max_distance"] = 8));
        Assert.Contains("num_heads must be positive", Message(c => c["num_heads"] = -1));
        Assert.Contains("not of the form", Message(c => c["feed_forward_proj"] = "double-gated-gelu"));
        Assert.Contains("not a valid T5 config.json", Message(c => c["d_model"] = 3.5));
    }
}
