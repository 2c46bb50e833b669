using System.Diagnostics;
using System.Text.Json;
using Microsoft.Playwright;

namespace FluxStudio.Web.Tests.Browser;

/// <summary>
/// axe-core, the accessibility checker, installed from npm with the lock file beside this class (<c>npm ci</c>, once,
/// into the repository's <c>artifacts/test-assets</c>) and run inside a page.
/// </summary>
public static class AxeCore
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);
    private static string? _script;

    /// <summary>The serious and critical violations on the page as it is now, one line each (rule, impact, elements).</summary>
    public static async Task<IReadOnlyList<string>> SeriousViolationsAsync(IPage page)
    {
        var script = await ScriptAsync();
        if (!await page.EvaluateAsync<bool>("() => typeof window.axe !== 'undefined'"))
            await page.AddScriptTagAsync(new PageAddScriptTagOptions { Content = script });
        var json = await page.EvaluateAsync<JsonElement>("""
            async () => {
                const result = await axe.run(document, { resultTypes: ['violations'] });
                return result.violations
                    .filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}`);
            }
            """);
        return json.EnumerateArray().Select(v => v.GetString()!).ToList();
    }

    private static async Task<string> ScriptAsync()
    {
        if (_script is not null)
            return _script;
        await InstallGate.WaitAsync();
        try
        {
            if (_script is not null)
                return _script;
            var folder = Path.Combine(TestPaths.RepositoryRoot, "artifacts", "test-assets", "axe");
            var script = Path.Combine(folder, "node_modules", "axe-core", "axe.min.js");
            if (!File.Exists(script))
                await InstallAsync(folder);
            return _script = await File.ReadAllTextAsync(script);
        }
        finally
        {
            InstallGate.Release();
        }
    }

    private static async Task InstallAsync(string folder)
    {
        var source = Path.Combine(TestPaths.RepositoryRoot, "tests", "FluxStudio.Web.Tests", "Browser", "axe");
        Directory.CreateDirectory(folder);
        foreach (var file in new[] { "package.json", "package-lock.json" })
            File.Copy(Path.Combine(source, file), Path.Combine(folder, file), overwrite: true);
        var start = new ProcessStartInfo("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var npm = Process.Start(start)
                        ?? throw new InvalidOperationException("npm could not be started; install Node.js and npm (test.sh does).");
        var output = npm.StandardOutput.ReadToEndAsync();
        var errors = npm.StandardError.ReadToEndAsync();
        await npm.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(5));
        if (npm.ExitCode != 0)
            throw new InvalidOperationException($"npm ci of axe-core failed ({npm.ExitCode}):\n{await output}\n{await errors}");
    }
}
