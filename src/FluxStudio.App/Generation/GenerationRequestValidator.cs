using System.Globalization;
using FluxStudio.App.Loras;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Generation;

public sealed class GenerationRequestValidatorOptions
{
    public int MaxSteps { get; set; } = 200;
    public int MaxPromptLength { get; set; } = 10_000;

    /// <summary>Accept an empty prompt (FLUX then draws without text conditioning); the CLI allows it when asked explicitly.</summary>
    public bool AllowEmptyPrompt { get; set; }
    public double MaxGuidance { get; set; } = 100;
    public double MaxLoraScale { get; set; } = 5;

    /// <summary>The most images one request may make (a batch is one job in the queue).</summary>
    public int MaxBatchCount { get; set; } = 32;

    /// <summary>Check that model paths and LoRA files exist on this machine (ControlNet and start pictures are always checked).</summary>
    public bool CheckFiles { get; set; } = true;

    /// <summary>
    /// Accept LoRAs given as full paths as well as names in the LoRA folder. Only the CLI does: its user names files on
    /// their own machine, while a web client may name only what the LoRA folder holds.
    /// </summary>
    public bool AllowLoraPaths { get; set; }
}

/// <summary>
/// The one set of rules for <see cref="GenerationRequest"/>, shared by the UI, the REST API and the CLI.
/// Each message says what is wrong and what to enter instead. Sizes follow the <see cref="ImageSizeRule"/> of the model
/// the request names (<see cref="ModelProbe"/>), so every surface accepts and refuses the same sizes.
/// </summary>
public sealed class GenerationRequestValidator(
    GenerationRequestValidatorOptions? options = null, LoraCatalog? loraCatalog = null, ModelProbe? models = null)
{
    private readonly GenerationRequestValidatorOptions _options = options ?? new();

    /// <summary>The sizes the model a request names makes (FLUX.1's when it cannot be told).</summary>
    public ImageSizeRule SizeRuleFor(GenerationRequest request) => models?.For(request.Model, request.ModelPath).SizeRule ?? ImageSizeRule.Flux1;

    public RequestValidationResult Validate(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var result = new RequestValidationResult();

        if (request.Prompt is null || (string.IsNullOrWhiteSpace(request.Prompt) && !_options.AllowEmptyPrompt))
            result.Add(nameof(request.Prompt), "Enter a prompt describing the image.");
        else if (request.Prompt.Length > _options.MaxPromptLength)
            result.Add(nameof(request.Prompt),
                $"The prompt is {request.Prompt.Length} characters long; shorten it to at most {_options.MaxPromptLength}.");

        if (!Enum.IsDefined(request.Model))
            result.Add(nameof(request.Model), "Choose the model \"schnell\" or \"dev\".");

        if (request.Quantize is not (null or 4 or 8))
            result.Add(nameof(request.Quantize),
                $"Quantize {request.Quantize} is not supported; choose 4, 8, or none for full precision.");

        if (request.Steps is { } steps && (steps < 1 || steps > _options.MaxSteps))
            result.Add(nameof(request.Steps),
                $"Steps must be between 1 and {_options.MaxSteps} (schnell usually uses 4, dev 20); you entered {steps}.");

        if (request.Seed < 0)
            result.Add(nameof(request.Seed), "The seed must be 0 (random) or a positive whole number.");
        ValidateBatch(result, request);

        if (request.Guidance is { } guidance && (double.IsNaN(guidance) || guidance < 0 || guidance > _options.MaxGuidance))
            result.Add(nameof(request.Guidance),
                $"Guidance must be between 0 and {_options.MaxGuidance.ToString(CultureInfo.InvariantCulture)} (3.5 is typical for dev).");

        var sizeRule = SizeRuleFor(request);
        foreach (var (field, value) in new[] { (nameof(request.Width), request.Width), (nameof(request.Height), request.Height) })
        {
            if (sizeRule.Check(field, value) is { } problem)
                result.Add(field, problem);
        }

        if (request.ModelPath is { } modelPath)
        {
            if (string.IsNullOrWhiteSpace(modelPath))
                result.Add(nameof(request.ModelPath), "The model path is blank; clear it to use the named model, or enter a folder.");
            else if (_options.CheckFiles && !Directory.Exists(modelPath) && !File.Exists(modelPath))
                result.Add(nameof(request.ModelPath), $"The model path \"{modelPath}\" does not exist; check the folder name.");
        }

        ValidateLoras(result, request.Loras);
        ValidateControlNet(result, request);
        ValidateInitImage(result, request);
        return result;
    }

    /// <summary>Validates and throws <see cref="RequestValidationException"/> when the request is not valid.</summary>
    public void EnsureValid(GenerationRequest request)
    {
        var result = Validate(request);
        if (!result.IsValid)
            throw new RequestValidationException(result);
    }

    private void ValidateLoras(RequestValidationResult result, IReadOnlyList<LoraSelection>? loras)
    {
        if (loras is null)
            return;
        var catalog = _options.CheckFiles ? loraCatalog?.GetSnapshot() : null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < loras.Count; i++)
        {
            var lora = loras[i];
            var field = $"{nameof(GenerationRequest.Loras)}[{i}]";
            if (string.IsNullOrWhiteSpace(lora.Name))
            {
                result.Add($"{field}.Name", "Choose a LoRA file.");
                continue;
            }
            if (_options.AllowLoraPaths && Path.IsPathFullyQualified(lora.Name))
            {
                if (!seen.Add(lora.Name))
                    result.Add($"{field}.Name", $"The LoRA \"{lora.Name}\" is selected twice; remove one.");
                else if (_options.CheckFiles && !File.Exists(lora.Name))
                    result.Add($"{field}.Name", $"The LoRA file \"{lora.Name}\" does not exist; check the path.");
            }
            else if (!LoraCatalog.IsPlainFileName(lora.Name))
                result.Add($"{field}.Name", $"\"{lora.Name}\" is not a file name; pick a LoRA from the LoRA folder.");
            else if (!seen.Add(lora.Name))
                result.Add($"{field}.Name", $"The LoRA \"{lora.Name}\" is selected twice; remove one.");
            else if (catalog is not null && !catalog.FileExists(lora.Name))
                result.Add($"{field}.Name",
                    $"The LoRA file \"{lora.Name}\" is not in the LoRA folder ({catalog.Folder}); copy it there or deselect it.");

            if (double.IsNaN(lora.Scale) || Math.Abs(lora.Scale) > _options.MaxLoraScale)
                result.Add($"{field}.Scale",
                    $"The scale of \"{lora.Name}\" must be between -{_options.MaxLoraScale} and {_options.MaxLoraScale} (1 is full strength).");
        }
    }

    private void ValidateBatch(RequestValidationResult result, GenerationRequest request)
    {
        var max = _options.MaxBatchCount;
        if (request.BatchCount < 1 || request.BatchCount > max)
            result.Add(nameof(request.BatchCount), $"The batch count must be between 1 and {max}; you entered {request.BatchCount}.");
        else if (request.Seeds.Count > max)
            result.Add(nameof(request.Seeds), $"{request.Seeds.Count} seeds were given; give at most {max}.");
        else if (request.Seeds.Count > 0 && request.BatchCount != 1 && request.BatchCount != request.Seeds.Count)
            result.Add(nameof(request.BatchCount),
                $"Give either a batch count or a list of seeds: {request.Seeds.Count} seeds make {request.Seeds.Count} images, not {request.BatchCount}.");
        if (request.Seeds.Any(seed => seed < 0))
            result.Add(nameof(request.Seeds), "Every seed must be 0 (random) or a positive whole number.");
        else if (request.Seed > 0 && request.Seeds.Count == 0 && request.BatchCount > 1 && request.Seed > long.MaxValue - request.BatchCount)
            result.Add(nameof(request.Seed), $"The seed is too large to count up {request.BatchCount} images from; use a smaller one.");
    }

    private static void ValidateControlNet(RequestValidationResult result, GenerationRequest request)
    {
        if (request.ControlNetImagePath is null)
            return;
        ValidatePicture(result, nameof(request.ControlNetImagePath), request.ControlNetImagePath, "ControlNet reference image");
        if (double.IsNaN(request.ControlNetStrength) || request.ControlNetStrength < 0 || request.ControlNetStrength > 1)
            result.Add(nameof(request.ControlNetStrength), "ControlNet strength must be between 0 and 1 (0.4 is typical).");
        if (!Enum.IsDefined(request.ControlNetEncoding))
            result.Add(nameof(request.ControlNetEncoding), "Choose the ControlNet encoding \"mflux\" (the original app's) or \"diffusers\".");
    }

    private static void ValidateInitImage(RequestValidationResult result, GenerationRequest request)
    {
        if (request.InitImagePath is null)
            return;
        ValidatePicture(result, nameof(request.InitImagePath), request.InitImagePath, "start image");
        if (double.IsNaN(request.ImageStrength) || request.ImageStrength < 0 || request.ImageStrength > 1)
            result.Add(nameof(request.ImageStrength),
                "The image strength must be between 0 and 1: how much of the start image to keep (0.4 is typical).");
    }

    // Pictures are read when the job runs; a missing one is reported now, whatever CheckFiles says, since no later
    // check would say it better.
    private static void ValidatePicture(RequestValidationResult result, string field, string path, string what)
    {
        if (string.IsNullOrWhiteSpace(path))
            result.Add(field, $"The {what} path is blank; choose an image or clear the field.");
        else if (!File.Exists(path))
            result.Add(field, $"The {what} \"{path}\" does not exist; choose another image.");
    }
}
