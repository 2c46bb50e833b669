using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FluxStudio.Web.Api;
using static FluxStudio.Web.Tests.ApiClient;

namespace FluxStudio.Web.Tests;

public sealed class LibraryApiTests : IDisposable
{
    private readonly StudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static async Task<long> GenerateAsync(HttpClient client, string prompt, long seed) =>
        (await ApiClient.GenerateAsync(client, SmallRequest(prompt, seed))).HistoryId!.Value;

    [Fact]
    public async Task HistoryPagesNewestFirstAndSearches()
    {
        using var client = _factory.CreateClient();
        var first = await GenerateAsync(client, "a red fox", 1);
        var second = await GenerateAsync(client, "a blue whale", 2);
        var third = await GenerateAsync(client, "a red kite", 3);

        var page1 = await client.GetFromJsonAsync<HistoryListing>("/api/history?page=1&pageSize=2", Json);
        Assert.Equal([third, second], page1!.Items.Select(i => i.Id));
        Assert.True(page1.HasMore);
        var page2 = await client.GetFromJsonAsync<HistoryListing>("/api/history?page=2&pageSize=2", Json);
        Assert.Equal([first], page2!.Items.Select(i => i.Id));
        Assert.False(page2.HasMore);
        Assert.Equal($"/api/images/{first}", page2.Items[0].ImageUrl);

        var red = await client.GetFromJsonAsync<HistoryListing>("/api/history?q=red", Json);
        Assert.Equal([third, first], red!.Items.Select(i => i.Id));
    }

    [Theory]
    [InlineData("page=0", "page")]
    [InlineData("pageSize=0", "pageSize")]
    [InlineData("pageSize=101", "pageSize")]
    public async Task BadPagingIsAValidationProblem(string query, string field)
    {
        using var client = _factory.CreateClient();
        var response = await client.GetAsync($"/api/history?{query}");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await ProblemAsync(response)).GetProperty("errors").TryGetProperty(field, out _));
    }

    [Fact]
    public async Task DetailsGiveTheSettingsToReuseAndDeleteRemovesTheImage()
    {
        using var client = _factory.CreateClient();
        var id = await GenerateAsync(client, "a lighthouse", 77);

        var details = await client.GetFromJsonAsync<HistoryItemDetails>($"/api/history/{id}", Json);
        Assert.Contains("Prompt: a lighthouse", details!.Details);
        Assert.Equal(77, details.Settings.Seed);
        Assert.Equal(48, details.Settings.Width);
        Assert.Equal("schnell", details.Settings.Model);

        // The settings post straight back as a new generation.
        var again = await WaitFinishedAsync(client, await QueueAsync(client, details.Settings));
        Assert.Equal(77, again.Seed);

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/history/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/history/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/images/{id}")).StatusCode);
        var deleteAgain = await client.DeleteAsync($"/api/history/{id}");
        Assert.Equal(HttpStatusCode.NotFound, deleteAgain.StatusCode);
        Assert.Contains($"no image {id}", (await ProblemAsync(deleteAgain)).GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("/api/images/..%2F..%2F..%2Fetc%2Fpasswd")]
    [InlineData("/api/images/../../../etc/passwd")]
    [InlineData("/api/images/%2Fetc%2Fpasswd")]
    [InlineData("/api/images/1%2F..%2F..%2Ffluxstudio.db")]
    [InlineData("/api/history/..%2Ffluxstudio.db")]
    public async Task PathsInImageUrlsNeverReachTheFileSystem(string url)
    {
        using var client = _factory.CreateClient();
        await GenerateAsync(client, "a fox", 5);
        var response = await client.GetAsync(url);
        Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("root:", body);
        Assert.DoesNotContain("SQLite format", body);
    }

    [Fact]
    public async Task ListsTheLoraCatalog()
    {
        var folder = Path.Combine(_factory.DataRoot, "lora");
        Directory.CreateDirectory(folder);
        await File.WriteAllBytesAsync(Path.Combine(folder, "ink.safetensors"), [0]);
        await File.WriteAllTextAsync(Path.Combine(folder, "lora_info.json"),
            """[{"file_name": "ink.safetensors", "description": "Ink drawing", "activation_keyword": "inkstyle"}]""");
        using var client = _factory.CreateClient();

        var listing = await client.GetFromJsonAsync<LoraListing>("/api/loras", Json);

        var lora = Assert.Single(listing!.Loras);
        Assert.Equal(new LoraInfo("ink.safetensors", "Ink drawing", "inkstyle", false), lora);
    }

    [Fact]
    public async Task PublishesTheOpenApiDocumentWithEveryEndpoint()
    {
        using var client = _factory.CreateClient();
        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = document.GetProperty("paths");
        foreach (var path in new[] { "/api/generations", "/api/generations/{id}", "/api/generations/{id}/events", "/api/images/{historyId}",
                     "/api/images/{historyId}/controlnet-canny",
                     "/api/history", "/api/history/{id}", "/api/loras", "/api/enhance", "/api/remove-background" })
            Assert.True(paths.TryGetProperty(path, out _), $"{path} is missing from the OpenAPI document");
        var schemas = document.GetProperty("components").GetProperty("schemas");
        Assert.True(schemas.GetProperty("GenerationApiRequest").GetProperty("properties").TryGetProperty("prompt", out _));
    }
}
