namespace FluxStudio.App.Generation;

/// <summary>The FLUX.1 variants. Names match the original app's and mflux's aliases.</summary>
public enum FluxModel
{
    Schnell,
    Dev,
}

public static class FluxModelNames
{
    public static string ToAlias(this FluxModel model) => model switch
    {
        FluxModel.Schnell => "schnell",
        FluxModel.Dev => "dev",
        _ => throw new ArgumentOutOfRangeException(nameof(model), model, "Unknown FLUX model."),
    };

    public static bool TryParse(string? alias, out FluxModel model)
    {
        switch (alias?.Trim().ToLowerInvariant())
        {
            case "schnell" or "flux.1-schnell" or "black-forest-labs/flux.1-schnell":
                model = FluxModel.Schnell;
                return true;
            case "dev" or "flux.1-dev" or "black-forest-labs/flux.1-dev":
                model = FluxModel.Dev;
                return true;
            default:
                model = default;
                return false;
        }
    }

    public static int DefaultSteps(this FluxModel model) => model == FluxModel.Dev ? 20 : 4;
}
