using System.Text.Json.Nodes;
using FluxStudio.Engine.Text.Clip;

namespace FluxStudio.Engine.Tests.Text.Clip;

public sealed class ClipTextConfigTests
{
    private static readonly string FixtureConfig = Path.Combine(TextEncoderFixture.Folder("clip_tiny_a"), "config.json");

    private static string EditedFixtureConfig(Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(FixtureConfig))!.AsObject();
        edit(json);
        return json.ToJsonString();
    }

    [Fact]
    public void ReadsTheFixtureConfig()
    {
        var config = ClipTextConfig.FromFile(FixtureConfig);

        Assert.Equal(new ClipTextConfig(VocabSize: 200, HiddenSize: 24, IntermediateSize: 48, NumHiddenLayers: 2,
            NumAttentionHeads: 2, MaxPositionEmbeddings: 77, LayerNormEps: 1e-5, ClipActivation.QuickGelu, EosTokenId: 2),
            config);
        Assert.Equal(12, config.HeadDim);
    }

    [Fact]
    public void FluxClipLHasTheRealSizes()
    {
        var config = ClipTextConfig.FluxClipL;

        Assert.Equal((768, 12, 12, 3072, 49408, 77), (config.HiddenSize, config.NumHiddenLayers, config.NumAttentionHeads,
            config.IntermediateSize, config.VocabSize, config.MaxPositionEmbeddings));
        Assert.Equal((1e-5, ClipActivation.QuickGelu, 2), (config.LayerNormEps, config.HiddenAct, config.EosTokenId));
        Assert.Equal(64, config.HeadDim);
    }

    [Fact]
    public void UsesTheReferenceDefaultsForOptionalEntries()
    {
        var config = ClipTextConfig.FromJson(
            """{"vocab_size": 10, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}""");

        Assert.Equal((77, 1e-5, ClipActivation.QuickGelu, 2),
            (config.MaxPositionEmbeddings, config.LayerNormEps, config.HiddenAct, config.EosTokenId));
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("num_attention_heads")]
    [InlineData("vocab_size")]
    public void NamesAMissingSize(string field)
    {
        var json = EditedFixtureConfig(config => config.Remove(field));

        var error = Assert.Throws<InvalidDataException>(() => ClipTextConfig.FromJson(json, "text_encoder/config.json"));
        Assert.Contains($"\"{field}\" is missing", error.Message);
        Assert.StartsWith("text_encoder/config.json", error.Message);
    }

    [Fact]
    public void RejectsInconsistentOrUnsupportedValues()
    {
        string Message(Action<JsonObject> edit) =>
            Assert.Throws<InvalidDataException>(() => ClipTextConfig.FromJson(EditedFixtureConfig(edit))).Message;

        Assert.Contains("not divisible by num_attention_heads 5", Message(c => c["num_attention_heads"] = 5));
        Assert.Contains("hidden_act \"relu\" is not supported", Message(c => c["hidden_act"] = "relu"));
        Assert.Contains("num_hidden_layers must be positive", Message(c => c["num_hidden_layers"] = 0));
        Assert.Contains("layer_norm_eps must be positive", Message(c => c["layer_norm_eps"] = 0));
        Assert.Contains("expected \"clip_text_model\"", Message(c => c["model_type"] = "t5"));
        Assert.Contains("not a valid CLIP text config.json", Message(c => c["hidden_size"] = "wide"));
    }

    [Fact]
    public void AcceptsTheExactGeluOfLaterClipModels()
    {
        var config = ClipTextConfig.FromJson(EditedFixtureConfig(c => c["hidden_act"] = "gelu"));

        Assert.Equal(ClipActivation.Gelu, config.HiddenAct);
    }

    [Fact]
    public void ExplainsAFileThatIsNotJsonOrAbsent()
    {
        Assert.Contains("not a valid CLIP text config.json",
            Assert.Throws<InvalidDataException>(() => ClipTextConfig.FromJson("{ nope", "x/config.json")).Message);
        Assert.Contains("does not exist",
            Assert.Throws<FileNotFoundException>(() => ClipTextConfig.FromFile("/nonexistent/config.json")).Message);
    }
}
