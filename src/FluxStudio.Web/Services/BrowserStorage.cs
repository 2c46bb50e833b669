using System.Text.Json;
using Microsoft.JSInterop;

namespace FluxStudio.Web.Services;

/// <summary>
/// What a page remembers in the browser's local storage (the form's values, the job it follows), so a reload or a
/// restart of the server finds them again. Only usable once the page is interactive.
/// </summary>
public sealed class BrowserStorage(IJSRuntime js)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        // The form's LoRA choices are a read-only dictionary property: fill it rather than replace it.
        PreferredObjectCreationHandling = System.Text.Json.Serialization.JsonObjectCreationHandling.Populate,
    };

    public async Task<string?> GetAsync(string key) => await js.InvokeAsync<string?>("fluxStudio.load", key);

    public async Task SetAsync(string key, string? value) => await js.InvokeVoidAsync("fluxStudio.save", key, value);

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Json);

    /// <summary>The stored value, or null when there is none or it cannot be read (an older shape, a hand edit).</summary>
    public static T? Deserialize<T>(string? json) where T : class
    {
        if (string.IsNullOrWhiteSpace(json))
            return null;
        try
        {
            return JsonSerializer.Deserialize<T>(json, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
