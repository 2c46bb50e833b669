using System.Globalization;
using FluxStudio.App.Loras;

namespace FluxStudio.App.Generation;

public sealed class GenerationRequestValidatorOptions
{
    /// <summary>Width and height must be multiples of this: 16 for FLUX (8× VAE downscale, 2×2 patches).</summary>
    public int SizeMultiple { get; set; } = 16;

    public int MaxSize { get; set; } = 4096;
    public int MaxSteps { get; set; } = 200;
    public int MaxPromptLength { get; set; } = 10_000;

    /// <summary>Accept an empty prompt (FLUX then draws without text conditioning); the CLI allows it when asked explicitly.</summary>
    public bool AllowEmptyPrompt { get; set; }
    public double MaxGuidance { get; set; } = 100;
    public double MaxLoraScale { get; set; } = 5;

    /// <summary>Check that model paths, ControlNet images and LoRA files exist on this machine.</summary>
    public bool CheckFiles { get; set; } = true;
}

/// <summary>
/// The one set of rules for <see cref="GenerationRequest"/>, shared by the UI, the REST API and the CLI.
/// Each message says what is wrong and what to enter instead.
/// </summary>
public sealed class GenerationRequestValidator(GenerationRequestValidatorOptions? options = null, LoraCatalog? loraCatalog = null)
{
    private readonly GenerationRequestValidatorOptions _options = options ?? new();

    /// <summary>Width and height are multiples of this.</summary>
    public int SizeMultiple => _options.SizeMultiple;

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

        if (request.Guidance is { } guidance && (double.IsNaN(guidance) || guidance < 0 || guidance > _options.MaxGuidance))
            result.Add(nameof(request.Guidance),
                $"Guidance must be between 0 and {_options.MaxGuidance.ToString(CultureInfo.InvariantCulture)} (3.5 is typical for dev).");

        ValidateSize(result, nameof(request.Width), "Width", request.Width);
        ValidateSize(result, nameof(request.Height), "Height", request.Height);

        if (request.ModelPath is { } modelPath)
        {
            if (string.IsNullOrWhiteSpace(modelPath))
                result.Add(nameof(request.ModelPath), "The model path is blank; clear it to use the named model, or enter a folder.");
            else if (_options.CheckFiles && !Directory.Exists(modelPath) && !File.Exists(modelPath))
                result.Add(nameof(request.ModelPath), $"The model path \"{modelPath}\" does not exist; check the folder name.");
        }

        ValidateLoras(result, request.Loras);
        ValidateControlNet(result, request);
        return result;
    }

    /// <summary>Validates and throws <see cref="RequestValidationException"/> when the request is not valid.</summary>
    public void EnsureValid(GenerationRequest request)
    {
        var result = Validate(request);
        if (!result.IsValid)
            throw new RequestValidationException(result);
    }

    private void ValidateSize(RequestValidationResult result, string field, string label, int value)
    {
        var multiple = _options.SizeMultiple;
        if (value <= 0)
            result.Add(field, $"{label} must be a positive number of pixels, for example {GenerationRequest.DefaultSize}.");
        else if (value > _options.MaxSize)
            result.Add(field, $"{label} {value} is larger than the maximum of {_options.MaxSize} pixels.");
        else if (value % multiple != 0)
        {
            var lower = value / multiple * multiple;
            var upper = lower + multiple;
            var suggestion = lower > 0 ? $"{lower} or {upper}" : upper.ToString(CultureInfo.InvariantCulture);
            result.Add(field, $"{label} must be a multiple of {multiple}; {value} is not. Try {suggestion}.");
        }
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
            if (!LoraCatalog.IsPlainFileName(lora.Name))
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

    private void ValidateControlNet(RequestValidationResult result, GenerationRequest request)
    {
        if (request.ControlNetImagePath is null)
            return;
        if (string.IsNullOrWhiteSpace(request.ControlNetImagePath))
            result.Add(nameof(request.ControlNetImagePath), "The ControlNet image path is blank; choose an image or clear the field.");
        else if (_options.CheckFiles && !File.Exists(request.ControlNetImagePath))
            result.Add(nameof(request.ControlNetImagePath),
                $"The ControlNet image \"{request.ControlNetImagePath}\" does not exist; choose another image.");

        if (double.IsNaN(request.ControlNetStrength) || request.ControlNetStrength < 0 || request.ControlNetStrength > 1)
            result.Add(nameof(request.ControlNetStrength), "ControlNet strength must be between 0 and 1.");
    }
}
