using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Mvc.Testing;

namespace FluxStudio.Web.Tests;

public sealed class ServerTests(WebApplicationFactory<Program> factory) : IClassFixture<WebApplicationFactory<Program>>
{
    [Fact]
    public async Task ServesTheStudioPageWithEveryTab()
    {
        using var client = factory.CreateClient();
        var html = await client.GetStringAsync("/");
        Assert.Contains("<h1>FluxStudio</h1>", html);
        foreach (var tab in new[] { "Generate", "Prompt Enhancer", "Background Remover", "History", "Train" })
            Assert.Contains($"<h2>{tab}</h2>", html);
    }

    [Fact]
    public void ListensOnLoopbackPort7860ByDefault()
    {
        var configuration = factory.Services.GetRequiredService<IConfiguration>();
        Assert.Equal("http://127.0.0.1:7860", configuration["Urls"]);
    }
}
