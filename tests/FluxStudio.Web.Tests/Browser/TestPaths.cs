namespace FluxStudio.Web.Tests.Browser;

/// <summary>Where the browser tests find the repository and write what they produce.</summary>
public static class TestPaths
{
    /// <summary>The checkout the tests were built from: the nearest folder above the test binaries holding FluxStudio.slnx.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>Screenshots of every tab, with the other test results (FLUXSTUDIO_SCREENSHOTS overrides).</summary>
    public static string Screenshots =>
        Environment.GetEnvironmentVariable("FLUXSTUDIO_SCREENSHOTS")
        ?? Path.Combine(RepositoryRoot, "artifacts", "test-results", "screenshots");

    private static string FindRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "FluxStudio.slnx")))
                return folder.FullName;
        }
        throw new InvalidOperationException($"No FluxStudio.slnx above {AppContext.BaseDirectory}; run the tests from the repository.");
    }
}
