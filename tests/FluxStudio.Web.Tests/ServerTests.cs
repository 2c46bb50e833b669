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
        Assert.Contains("<h1>FluxStudio</h1>", html);
        foreach (var tab in new[] { "Generate", "Prompt Enhancer", "Background Remover", "History", "Train" })
            Assert.Contains($">{tab}</button>", html);
    }

    [Fact]
    public void ListensOnLoopbackPort7860ByDefault()
    {
        var configuration = _factory.Services.GetRequiredService<IConfiguration>();
        Assert.Equal("http://127.0.0.1:7860", configuration["Urls"]);
    }
}
