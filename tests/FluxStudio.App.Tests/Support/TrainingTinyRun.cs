using System.Text.Json;
using System.Text.Json.Nodes;
using FluxStudio.Engine.Tests;

namespace FluxStudio.App.Tests.Support;

/// <summary>
/// tests/Fixtures/training-tiny as a run to start: the configuration of its checkpoint (layers, seed, size, batch, captions),
/// its images, and the model of pipeline-tiny it trains, all read from the fixture's own files.
/// </summary>
public static class TrainingTinyRun
{
    public const string Fixture = "training-tiny";

    public static JsonNode Manifest => JsonNode.Parse(File.ReadAllText(Fixtures.Path(Fixture, "manifest.json")))!;

    /// <summary>The fixture's checkpoint, unzipped: a folder holding the original app's checkpoint files.</summary>
    public static string CheckpointFolder => Directory.GetDirectories(Fixtures.Path(Fixture), "checkpoint_*").Single();

    /// <summary>The checkpoint's file of a role (config, optimizer, lora_adapter, iterator, loss), as its checkpoint.json names it.</summary>
    public static string CheckpointFile(string role) =>
        Path.Combine(CheckpointFolder, JsonNode.Parse(File.ReadAllText(Path.Combine(CheckpointFolder, "checkpoint.json")))!["files"]![role]!.GetValue<string>());

    /// <summary>The diffusers folder of the model the fixture trains.</summary>
    public static string ModelFolder => Path.GetFullPath(Fixtures.Path(Fixture, Manifest["model"]!["folder"]!.GetValue<string>()));

    /// <summary>The checkpoint's configuration, its examples folder made absolute (it is relative to the configuration's folder).</summary>
    public static JsonObject Config()
    {
        var config = JsonNode.Parse(File.ReadAllText(CheckpointFile("config")))!.AsObject();
        var examples = config["examples"]!;
        examples["path"] = Path.GetFullPath(examples["path"]!.GetValue<string>(), CheckpointFolder);
        return config;
    }

    /// <summary>Writes <paramref name="folder"/>/train.json: the fixture's configuration, changed by <paramref name="edit"/>, its outputs in <c>out</c>.</summary>
    public static string WriteConfig(string folder, Action<JsonObject>? edit = null)
    {
        var config = Config();
        config["save"]!["output_path"] = "out";
        edit?.Invoke(config);
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "train.json");
        File.WriteAllText(path, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    /// <summary>Sets the number of epochs so the run has <paramref name="steps"/> steps (batches), with the fixture's batch size and images.</summary>
    public static void Steps(JsonObject config, int steps)
    {
        int images = config["examples"]!["images"]!.AsArray().Count;
        int batch = config["training_loop"]!["batch_size"]!.GetValue<int>();
        int perEpoch = (images + batch - 1) / batch;
        if (steps % perEpoch != 0) throw new ArgumentException($"{steps} steps are not whole epochs of {perEpoch} batches.");
        config["training_loop"]!["num_epochs"] = steps / perEpoch;
    }

    /// <summary>A plot, a validation image and a checkpoint every <paramref name="every"/> steps.</summary>
    public static void Instrument(JsonObject config, int every, string prompt = "photo of sks toy")
    {
        config["save"]!["checkpoint_frequency"] = every;
        config["instrumentation"] = new JsonObject
        {
            ["plot_frequency"] = every,
            ["generate_image_frequency"] = every,
            ["validation_prompt"] = prompt,
        };
    }

    /// <summary>
    /// The configuration as a client sends it (no folders: its examples name the pictures uploaded with it), with
    /// <paramref name="steps"/> steps and everything written every <paramref name="every"/>, and the pictures' names and bytes.
    /// </summary>
    public static (string Json, List<(string Name, byte[] Bytes)> Images) Upload(int steps, int every)
    {
        var config = Config();
        var folder = config["examples"]!["path"]!.GetValue<string>();
        var images = config["examples"]!["images"]!.AsArray()
            .Select(image => image!["image"]!.GetValue<string>())
            .Select(name => (name, File.ReadAllBytes(Path.Combine(folder, name)))).ToList();
        config["examples"]!.AsObject().Remove("path");
        Steps(config, steps);
        Instrument(config, every);
        return (config.ToJsonString(), images);
    }
}
