using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.Web.Tests;

public sealed class ServerTests : IDisposable
{
    private readonly StudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task ServesTheStudioPageWithEveryTab()
    {
        using var client = _factory.CreateClient();
        var html = await client.GetStringAsync("/");
        Assert.Contains(">FluxStudio</h1>", html);
        Assert.Contains("role=\"tablist\"", html);
        foreach (var tab in new[] { "generate", "enhance", "background", "history", "train" })
            Assert.Contains($"data-testid=\"tab-{tab}\"", html);
        Assert.Contains("favicon.svg", html);
    }

    [Fact]
    public void ListensOnLoopbackPort7860ByDefault()
    {
        var configuration = _factory.Services.GetRequiredService<IConfiguration>();
        Assert.Equal("http://127.0.0.1:7860", configuration["Urls"]);
    }
}
