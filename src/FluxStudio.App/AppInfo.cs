namespace FluxStudio.App;

/// <summary>Product name and version, as shown in the UI, the CLI and image metadata.</summary>
public static class AppInfo
{
    public const string Name = "FluxStudio";
    public static string Version => typeof(AppInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
