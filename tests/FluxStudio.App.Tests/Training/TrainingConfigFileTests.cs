using System.Text.Json.Nodes;
using FluxStudio.App.Tests.Support;
using FluxStudio.App.Training;
using FluxStudio.Engine.Tests;

namespace FluxStudio.App.Tests.Training;

/// <summary>The original app's train.json as people write it: accepted as is, every problem named by its key.</summary>
public sealed class TrainingConfigFileTests : IDisposable
{
    private readonly TempFolder _folder = new();

    private static string Json(Action<JsonObject> edit)
    {
        var config = TrainingTinyRun.Config();
        edit(config);
        return config.ToJsonString();
    }

    [Fact]
    public void TheFixturesConfigurationIsAcceptedWithItsExamplesFolderMadeAbsolute()
    {
        var config = JsonNode.Parse(File.ReadAllText(TrainingTinyRun.CheckpointFile("config")))!;
        var file = TrainingConfigFile.Parse(config.ToJsonString(), TrainingTinyRun.CheckpointFolder);

        Assert.Empty(file.UnknownKeys);
        Assert.Equal(Path.GetFullPath(config["examples"]!["path"]!.GetValue<string>(), TrainingTinyRun.CheckpointFolder), file.Config.Examples.Path);
        Assert.Equal(config["examples"]!["images"]!.AsArray().Count, file.Config.Examples.Images.Count);
        Assert.Equal(config["seed"]!.GetValue<ulong>(), file.Config.Seed);
    }

    [Fact]
    public void UnknownKeysAreReportedNotRefused()
    {
        var file = TrainingConfigFile.Parse(Json(c =>
        {
            c["colour"] = "blue";
            c["optimizer"]!["momentum"] = 0.5;
        }), _folder.Path);
        Assert.Equal(["colour", "optimizer.momentum"], file.UnknownKeys.Order());
    }

    [Theory]
    [InlineData("steps", "0")]
    [InlineData("width", "50")]
    [InlineData("model", "\"pro\"")]
    [InlineData("training_loop.batch_size", "0")]
    [InlineData("training_loop.num_epochs", "\"many\"")]
    [InlineData("optimizer.learning_rate", "-1")]
    [InlineData("optimizer.name", "\"SGD\"")]
    [InlineData("save.checkpoint_frequency", "0")]
    [InlineData("lora_layers.single_transformer_blocks.lora_rank", "0")]
    [InlineData("examples.images", "[]")]
    [InlineData("seed", "-3")]
    public void AnInvalidValueIsRefusedWithASentenceNamingItsKey(string key, string value)
    {
        var json = Json(config =>
        {
            var parts = key.Split('.');
            var section = parts[..^1].Aggregate((JsonNode)config, (node, part) => node[part]!);
            section[parts[^1]] = JsonNode.Parse(value);
        });
        var error = Assert.Throws<TrainingConfigException>(() => TrainingConfigFile.Parse(json, _folder.Path));
        Assert.Contains(error.Problems, problem => problem.Key == key);
        var leaf = key.Split('.')[^1];
        Assert.All(error.Problems, problem => Assert.False(string.IsNullOrWhiteSpace(problem.Message)));
        Assert.Contains(error.Problems, problem => problem.Message.Contains(leaf, StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void TextThatIsNotJsonIsRefusedWithItsLine()
    {
        var error = Assert.Throws<TrainingConfigException>(() => TrainingConfigFile.Parse("{\n\"model\": \"dev\",\n\"steps\": ,\n}", _folder.Path));
        Assert.Contains("line 3", error.Message);
    }

    public void Dispose() => _folder.Dispose();
}
