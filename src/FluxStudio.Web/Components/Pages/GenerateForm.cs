using FluxStudio.App.Generation;
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
    };

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
