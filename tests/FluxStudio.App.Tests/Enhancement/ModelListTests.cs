using FluxStudio.App.Enhancement;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static FluxStudio.App.Tests.Enhancement.EnhancerTestKit;

namespace FluxStudio.App.Tests.Enhancement;

public sealed class ModelListTests
{
    [Fact]
    public async Task MarksVisionModelsFromTheCapabilitiesOfApiShow()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        // Families alone would call this one a vision model; its capabilities say otherwise and win.
        ollama.Models.Add(new("text-with-clip-family:1b", ["clip"], ["completion"]));
        ollama.Models.Add(new("llama3.2-vision:latest", ["mllama"], ["completion", "vision"]));
        await using var services = Services(ollama.Endpoint);

        var models = await services.Enhancer().ListModelsAsync();

        Assert.Equal(
            [
                new EnhancerModel("llama3.2-vision:latest", IsVision: true),
                new EnhancerModel("llama3.2:latest", IsVision: false),
                new EnhancerModel("llava:7b", IsVision: true),
                new EnhancerModel("text-with-clip-family:1b", IsVision: false),
            ],
            models);
        Assert.Equal("Describe image as prompt", models[0].ActionLabel);
        Assert.Equal("Enhance prompt", models[1].ActionLabel);
    }

    [Fact]
    public async Task FallsBackToTheModelFamiliesWhenApiShowFails()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Models.Clear();
        ollama.Models.Add(new("old-llava:13b", ["llama", "clip"], Capabilities: null));
        ollama.Models.Add(new("old-mistral:7b", ["llama"], Capabilities: null));
        await using var services = Services(ollama.Endpoint);

        var models = await services.Enhancer().ListModelsAsync();

        Assert.Equal([new EnhancerModel("old-llava:13b", true), new EnhancerModel("old-mistral:7b", false)], models);
    }

    [Fact]
    public async Task ReusesTheListUntilRefreshedOrExpired()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        var clock = new ManualClock(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
        await using var services = Services(ollama.Endpoint, o => o.ModelListCacheDuration = TimeSpan.FromMinutes(1), clock);
        var enhancer = services.Enhancer();

        Assert.Equal(2, (await enhancer.ListModelsAsync()).Count);
        ollama.Models.Add(new("qwen2.5vl:7b", ["qwen25vl"], ["completion", "vision"]));
        Assert.Equal(2, (await enhancer.ListModelsAsync()).Count);
        Assert.Equal(1, ollama.TagsRequestCount);

        // A model pulled while the application runs appears on refresh, without a restart.
        Assert.Contains(new EnhancerModel("qwen2.5vl:7b", true), await enhancer.ListModelsAsync(refresh: true));
        Assert.Equal(2, ollama.TagsRequestCount);

        ollama.Models.RemoveAt(0);
        clock.Now += TimeSpan.FromSeconds(59);
        Assert.Equal(3, (await enhancer.ListModelsAsync()).Count);
        clock.Now += TimeSpan.FromSeconds(2);
        Assert.Equal(2, (await enhancer.ListModelsAsync()).Count);
        Assert.Equal(3, ollama.TagsRequestCount);
    }

    [Fact]
    public async Task AModelPulledAfterTheListWasCachedCanBeUsedAtOnce()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        await using var services = Services(ollama.Endpoint, o => o.ModelListCacheDuration = TimeSpan.FromHours(1));
        var enhancer = services.Enhancer();
        await enhancer.ListModelsAsync();
        ollama.Models.Add(new("mistral:7b", ["llama"], ["completion"]));

        var tokens = await CollectAsync(enhancer.EnhanceAsync(new EnhanceRequest("mistral:7b", "a fox")));

        Assert.Equal(ollama.Reply, tokens);
        Assert.Equal("mistral:7b", (string?)Assert.Single(ollama.ChatRequests)["model"]);
        Assert.Equal(2, ollama.TagsRequestCount);
    }

    [Fact]
    public async Task ListsModelsOfTheEndpointCurrentlySet()
    {
        await using var first = await FakeOllamaServer.StartAsync();
        await using var second = await FakeOllamaServer.StartAsync();
        second.Models.RemoveAt(0);
        var settings = new EnhancerOptions { Endpoint = first.Endpoint.ToString() };
        await using var services = Services(first.Endpoint, o => o.Endpoint = settings.Endpoint);
        var enhancer = services.Enhancer();
        Assert.Equal(2, (await enhancer.ListModelsAsync()).Count);

        // The options are read on every call: a new endpoint is not answered from the old server's cache.
        settings.Endpoint = second.Endpoint.ToString();
        services.GetRequiredService<IOptionsMonitorCache<EnhancerOptions>>().TryRemove(Options.DefaultName);

        Assert.Single(await enhancer.ListModelsAsync());
    }

    [Fact]
    public async Task StatusSaysWhenOllamaHasNoModels()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        ollama.Models.Clear();
        await using var services = Services(ollama.Endpoint);

        var status = await services.Enhancer().GetStatusAsync();

        Assert.False(status.IsUsable);
        Assert.Empty(status.Models);
        Assert.Contains("ollama pull", status.Problem);
    }

    [Fact]
    public async Task StatusListsTheModelsWhenOllamaRuns()
    {
        await using var ollama = await FakeOllamaServer.StartAsync();
        await using var services = Services(ollama.Endpoint);

        var status = await services.Enhancer().GetStatusAsync();

        Assert.True(status.IsUsable);
        Assert.Null(status.Problem);
        Assert.Equal(["llama3.2:latest", "llava:7b"], status.Models.Select(m => m.Name));
    }
}
