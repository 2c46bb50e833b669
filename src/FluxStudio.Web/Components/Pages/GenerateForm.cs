using FluxStudio.App.Generation;
using FluxStudio.App.Inputs;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;

namespace FluxStudio.Web.Components.Pages;

/// <summary>The Generate tab's fields, as the form edits them, and the request they make.</summary>
public sealed class GenerateForm
{
    public string Prompt { get; set; } = "";
    public string Model { get; set; } = "schnell";
    public string Quantize { get; set; } = "none";
    public int? Steps { get; set; }
    public long Seed { get; set; }
    public double Guidance { get; set; } = FluxVariants.DefaultGuidance;
    public int Width { get; set; } = GenerationRequest.DefaultSize;
    public int Height { get; set; } = GenerationRequest.DefaultSize;
    public string ModelPath { get; set; } = "";
    public bool Metadata { get; set; }

    /// <summary>How many images to make from one encoding of the prompt (seeds Seed, Seed + 1, …, or random ones for 0).</summary>
    public int BatchCount { get; set; } = 1;

    /// <summary>The ControlNet's reference picture: a path in the upload store (<see cref="InputPictures"/>), or null for none.</summary>
    public StoredImage? ControlNetImage { get; set; }
    public double ControlNetStrength { get; set; } = GenerationRequest.DefaultControlNetStrength;
    public bool ControlNetSaveCanny { get; set; }

    /// <summary>"mflux" (the original app's, the default) or "diffusers".</summary>
    public string ControlNetEncoding { get; set; } = Engine.ControlNet.ControlNetEncoding.Mflux.Name();

    /// <summary>The picture to start from (image to image): a picture in the upload store, or null for text to image.</summary>
    public StoredImage? InitImage { get; set; }
    public double ImageStrength { get; set; } = GenerationRequest.DefaultImageStrength;

    /// <summary>LoRA file name → chosen and scale.</summary>
    public Dictionary<string, LoraChoice> Loras { get; } = new(StringComparer.Ordinal);

    public bool IsDev => Variant.TakesGuidance();

    private FluxVariant Variant => FluxVariants.TryParse(Model, out var variant) ? variant : FluxVariant.Schnell;

    public GenerationRequest ToRequest() => new()
    {
        Prompt = Prompt,
        Model = Variant,
        Quantize = Quantize switch { "4" => 4, "8" => 8, _ => null },
        Steps = Steps,
        Seed = Seed,
        Guidance = IsDev ? Guidance : null,
        Width = Width,
        Height = Height,
        ModelPath = string.IsNullOrWhiteSpace(ModelPath) ? null : ModelPath.Trim(),
        Loras = Loras.Where(l => l.Value.Selected).Select(l => new LoraSelection(l.Key, l.Value.Scale)).ToList(),
        Metadata = Metadata,
        BatchCount = BatchCount,
        ControlNetImagePath = ControlNetImage?.Path,
        ControlNetStrength = ControlNetStrength,
        ControlNetSaveCanny = ControlNetSaveCanny,
        ControlNetEncoding = ControlNetEncodings.TryParse(ControlNetEncoding, out var encoding) ? encoding : Engine.ControlNet.ControlNetEncoding.Mflux,
        InitImagePath = InitImage?.Path,
        ImageStrength = ImageStrength,
    };

    /// <summary>
    /// Fills the fields from a request ("reuse these settings"); its pictures are the ones the page already holds only
    /// when the caller passes them (<see cref="InputPictures.FindAsync"/>), since a request names paths the page may not serve.
    /// </summary>
    public void Load(GenerationRequest request, StoredImage? controlNetImage, StoredImage? initImage)
    {
        Load(request);
        ControlNetImage = controlNetImage;
        InitImage = initImage;
    }

    public void Load(GenerationRequest request)
    {
        Prompt = request.Prompt;
        Model = request.Model.Alias();
        Quantize = request.Quantize?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none";
        Steps = request.Steps;
        Seed = request.Seed;
        Guidance = request.Guidance ?? FluxVariants.DefaultGuidance;
        Width = request.Width;
        Height = request.Height;
        ModelPath = request.ModelPath ?? "";
        Metadata = request.Metadata;
        BatchCount = request.ImageCount;
        ControlNetStrength = request.ControlNetStrength;
        ControlNetSaveCanny = request.ControlNetSaveCanny;
        ControlNetEncoding = request.ControlNetEncoding.Name();
        ImageStrength = request.ImageStrength;
        foreach (var choice in Loras.Values)
            choice.Selected = false;
        foreach (var lora in request.Loras)
            Loras[lora.Name] = new LoraChoice { Selected = true, Scale = lora.Scale };
    }
}

public sealed class LoraChoice
{
    public bool Selected { get; set; }
    public double Scale { get; set; } = 1.0;
}
