using MudBlazor;

namespace FluxStudio.Web.Components;

/// <summary>The studio's colours and type, light and dark, on MudBlazor's Material design.</summary>
public static class StudioTheme
{
    private static readonly string[] SystemFonts =
        ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Ubuntu", "Cantarell", "Noto Sans", "DejaVu Sans", "sans-serif"];

    public static MudTheme Theme { get; } = new()
    {
        PaletteLight = new PaletteLight
        {
            Primary = "#5b3fd6",
            Secondary = "#00838f",
            Tertiary = "#c2185b",
            // Text-strength status colours: alerts and chips write in them on a tint of themselves.
            Info = "#0a5ea8",
            Success = "#2e7d32",
            Warning = "#8f5400",
            Error = "#c62828",
            AppbarBackground = "#ffffff",
            AppbarText = "#1d1b24",
            Background = "#f4f3f8",
            Surface = "#ffffff",
            TextPrimary = "#1d1b24",
            TextSecondary = "#55526a",
            // Darker than Material's default, so hint and disabled text keep a 4.5:1 contrast.
            TextDisabled = "#6b6880",
            ActionDisabled = "#77748a",
            LinesInputs = "#8a8799",
            Divider = "#e2e0ea",
        },
        PaletteDark = new PaletteDark
        {
            Primary = "#a996ff",
            PrimaryContrastText = "#140d33",
            Secondary = "#4dd0e1",
            SecondaryContrastText = "#002126",
            Tertiary = "#f48fb1",
            Info = "#7cc4ff",
            Success = "#81c784",
            Warning = "#ffb74d",
            Error = "#ff8a80",
            AppbarBackground = "#1a1922",
            AppbarText = "#ecebf3",
            Background = "#121118",
            Surface = "#1e1d27",
            TextPrimary = "#ecebf3",
            TextSecondary = "#b9b6c9",
            TextDisabled = "#9895aa",
            ActionDefault = "#cfcce0",
            ActionDisabled = "#8c8a9c",
            LinesInputs = "#8c8a9c",
            Divider = "#2f2d3b",
            DrawerBackground = "#1a1922",
        },
        Typography = new Typography
        {
            Default = new DefaultTypography { FontFamily = SystemFonts },
            Button = new ButtonTypography { FontFamily = SystemFonts, TextTransform = "none", FontWeight = "600" },
        },
        LayoutProperties = new LayoutProperties { DefaultBorderRadius = "10px", AppbarHeight = "52px" },
    };
}
