using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FluxStudio.Engine.Training;

namespace FluxStudio.App.Training;

/// <summary>
/// A training configuration as people write it: the original app's <c>train.json</c>, accepted as it is. Keys the
/// configuration does not know are reported (and ignored, as the original app ignores them); a value of the wrong kind
/// or one that cannot be used is refused with a sentence that names its key; the examples' folder, when relative, is
/// taken from the configuration file's own folder, as the original app takes it.
/// </summary>
public sealed partial record TrainingConfigFile(TrainingConfig Config, IReadOnlyList<string> UnknownKeys)
{
    /// <summary>Every key there is, each with a value of its kind: the configuration with every optional part filled in.</summary>
    private static readonly Lazy<JsonObject> Shape = new(() => (JsonObject)JsonNode.Parse(new TrainingConfig
    {
        Quantize = 8,
        Optimizer = new OptimizerConfig { BiasCorrection = true, WeightDecay = 0.01, Betas = [0.9, 0.999], Eps = 1e-8 },
        Instrumentation = new InstrumentationConfig(),
        LoraLayers = new LoraLayersConfig
        {
            TransformerBlocks = new LoraBlocksConfig(new BlockRange(0, 1, [0]), ["attn.to_q"], 4),
            SingleTransformerBlocks = new LoraBlocksConfig(new BlockRange(0, 1, [0]), ["attn.to_q"], 4),
            Initialization = LoraInitialization.Peft,
        },
        Examples = new ExamplesConfig { Images = [new TrainingImage("image.png", "a caption")] },
    }.ToJson())!);

    /// <summary>
    /// Reads <paramref name="json"/>, a configuration whose relative examples path is relative to
    /// <paramref name="configFolder"/>; the result holds that path made absolute.
    /// </summary>
    /// <exception cref="TrainingConfigException">The text is not a usable configuration; every problem found is listed with its key.</exception>
    public static TrainingConfigFile Parse(string json, string configFolder)
    {
        JsonNode? document;
        try
        {
            document = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new TrainingConfigException("", $"The training configuration is not valid JSON (line {e.LineNumber + 1}): {FirstSentence(e.Message)}");
        }
        if (document is not JsonObject root)
            throw new TrainingConfigException("", "The training configuration must be a JSON object, such as {\"model\": \"dev\", …}.");

        var unknown = new List<string>();
        var problems = new List<ConfigProblem>();
        Compare(root, Shape.Value, "", unknown, problems);
        if (root["examples"] is null)
            problems.Add(new ConfigProblem("examples", "The configuration has no \"examples\" section: add the images and their descriptions as in the original app's train.json."));
        if (problems.Count > 0) throw new TrainingConfigException(problems);

        TrainingConfig config;
        try
        {
            config = TrainingConfig.FromJson(root.ToJsonString());
        }
        catch (FormatException e) when (e.InnerException is JsonException inner)
        {
            throw new TrainingConfigException(KeyOf(inner.Path), $"{KeyOf(inner.Path)}: {WrongValue(inner)}");
        }

        problems.AddRange(config.KeyedProblems());
        if (string.IsNullOrWhiteSpace(config.Save.OutputPath))
            problems.Add(new ConfigProblem("save.output_path", "save.output_path must name the folder the checkpoints and the LoRA go to."));
        for (int i = 0; i < config.Examples.Images.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(config.Examples.Images[i].Image))
                problems.Add(new ConfigProblem($"examples.images[{i}].image", $"examples.images[{i}] names no image file."));
        }
        if (problems.Count > 0) throw new TrainingConfigException(problems);

        var examplesFolder = Path.GetFullPath(config.Examples.Path, Path.GetFullPath(configFolder));
        return new TrainingConfigFile(config with { Examples = config.Examples with { Path = examplesFolder } }, unknown);
    }

    /// <summary>Reports keys <paramref name="shape"/> does not have and values whose kind differs from its.</summary>
    private static void Compare(JsonNode? actual, JsonNode? shape, string path, List<string> unknown, List<ConfigProblem> problems)
    {
        // null is left to the reader, which accepts it where a setting is optional and refuses it elsewhere.
        if (actual is null || shape is null) return;
        var (actualKind, shapeKind) = (actual.GetValueKind(), shape.GetValueKind());
        if (Kind(actualKind) != Kind(shapeKind))
        {
            problems.Add(new ConfigProblem(path, $"{path} must be {Describe(shapeKind)}, not {actual.ToJsonString()}."));
            return;
        }
        switch (actual)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj)
                {
                    var child = path.Length == 0 ? key : $"{path}.{key}";
                    if (!((JsonObject)shape).TryGetPropertyValue(key, out var expected))
                        unknown.Add(child);
                    else
                        Compare(value, expected, child, unknown, problems);
                }
                break;
            case JsonArray array when ((JsonArray)shape).Count > 0:
                for (int i = 0; i < array.Count; i++)
                    Compare(array[i], ((JsonArray)shape)[0], $"{path}[{i}]", unknown, problems);
                break;
        }
    }

    private static JsonValueKind Kind(JsonValueKind kind) => kind == JsonValueKind.False ? JsonValueKind.True : kind;

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "a section ({…})",
        JsonValueKind.Array => "a list ([…])",
        JsonValueKind.String => "text in quotes",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "true or false",
        _ => "set",
    };

    /// <summary><c>$.training_loop.num_epochs</c> → <c>training_loop.num_epochs</c>.</summary>
    private static string KeyOf(string? jsonPath) => (jsonPath ?? "$").TrimStart('$').TrimStart('.');

    private static string WrongValue(JsonException e)
    {
        var target = TargetType().Match(e.Message) is { Success: true } match ? match.Groups[1].Value : "";
        return target switch
        {
            "Int32" or "Int64" => "must be a whole number.",
            "UInt64" => "must be a whole number, 0 or more.",
            "Double" or "Single" => "must be a number.",
            "Boolean" => "must be true or false.",
            "String" => "must be text in quotes.",
            _ when target.Contains("LoraInitialization", StringComparison.Ordinal) => "must be \"peft\" or \"mflux\".",
            _ => $"has a value that cannot be used ({FirstSentence(e.Message)})",
        };
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).Trim();
    }

    [GeneratedRegex(@"converted to (?:System\.Nullable`1\[)?(?:System\.)?([\w.]+)")]
    private static partial Regex TargetType();
}
