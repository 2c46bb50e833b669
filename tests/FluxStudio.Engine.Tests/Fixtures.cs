namespace FluxStudio.Engine.Tests;

/// <summary>Finds the golden fixtures under tests/Fixtures (see its README for their origin).</summary>
public static class Fixtures
{
    private static readonly Lazy<string> Root = new(FindRoot);

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root.Value, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "tests", "Fixtures");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"tests/Fixtures not found above {AppContext.BaseDirectory}");
    }
}
