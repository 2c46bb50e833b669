using FluxStudio.Engine.Models;

namespace FluxStudio.Engine.Tests.Models;

public sealed class HubSettingsTests : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("fluxstudio-home-").FullName;

    public void Dispose() => Directory.Delete(_home, recursive: true);

    private HubSettings Resolve(Dictionary<string, string> env, ModelHubOptions? options = null)
    {
        env.TryAdd("HOME", _home);
        return HubSettings.Resolve(options ?? new ModelHubOptions(), name => env.GetValueOrDefault(name));
    }

    [Fact]
    public void CacheFolderFollowsHuggingFaceHubPrecedence()
    {
        var all = new Dictionary<string, string>
        {
            ["HF_HUB_CACHE"] = "/data/hub-cache",
            ["HF_HOME"] = "/data/hf-home",
            ["XDG_CACHE_HOME"] = "/data/xdg",
        };
        var settings = Resolve(new(all));
        Assert.Equal("/data/hub-cache", settings.CacheDirectory);
        Assert.Equal("HF_HUB_CACHE", settings.CacheDirectorySource);

        all.Remove("HF_HUB_CACHE");
        settings = Resolve(new(all));
        Assert.Equal("/data/hf-home/hub", settings.CacheDirectory);
        Assert.Equal("HF_HOME", settings.CacheDirectorySource);

        all.Remove("HF_HOME");
        Assert.Equal("/data/xdg/huggingface/hub", Resolve(new(all)).CacheDirectory);

        all.Remove("XDG_CACHE_HOME");
        settings = Resolve(new(all));
        Assert.Equal(Path.Combine(_home, ".cache", "huggingface", "hub"), settings.CacheDirectory);
        Assert.Equal("the default location", settings.CacheDirectorySource);

        // An explicit setting beats every variable; ~ means the home folder.
        settings = Resolve(new() { ["HF_HUB_CACHE"] = "/data/hub-cache" }, new ModelHubOptions { CacheDirectory = "~/models-cache" });
        Assert.Equal(Path.Combine(_home, "models-cache"), settings.CacheDirectory);
    }

    [Fact]
    public void EndpointTokenAndOfflineComeFromTheEnvironmentUnlessSet()
    {
        var settings = Resolve(new());
        Assert.Equal(new Uri("https://huggingface.co/"), settings.Endpoint);
        Assert.Null(settings.Token);
        Assert.True(settings.AllowDownload);

        settings = Resolve(new() { ["HF_ENDPOINT"] = "http://mirror.local:8080/hf", ["HF_TOKEN"] = "hf_env", ["HF_HUB_OFFLINE"] = "1" });
        Assert.Equal(new Uri("http://mirror.local:8080/hf/"), settings.Endpoint);
        Assert.Equal("hf_env", settings.Token);
        Assert.Equal("HF_TOKEN", settings.TokenSource);
        Assert.True(settings.Offline);
        Assert.False(settings.AllowDownload);

        settings = Resolve(new() { ["HF_ENDPOINT"] = "http://mirror.local", ["HF_TOKEN"] = "hf_env" },
            new ModelHubOptions { Endpoint = "http://other.local/", Token = "hf_option" });
        Assert.Equal(new Uri("http://other.local/"), settings.Endpoint);
        Assert.Equal("hf_option", settings.Token);

        var error = Assert.Throws<ArgumentException>(() => Resolve(new() { ["HF_ENDPOINT"] = "ftp://example.org" }));
        Assert.Contains("HF_ENDPOINT", error.Message);
    }

    [Fact]
    public void ReusesTheTokenThatHuggingfaceCliLoginStored()
    {
        var hfHome = Path.Combine(_home, ".cache", "huggingface");
        Directory.CreateDirectory(hfHome);
        File.WriteAllText(Path.Combine(hfHome, "token"), "hf_stored\n");
        var settings = Resolve(new());
        Assert.Equal("hf_stored", settings.Token);
        Assert.Equal(Path.Combine(hfHome, "token"), settings.TokenSource);

        // HF_TOKEN wins over the stored token.
        Assert.Equal("hf_env", Resolve(new() { ["HF_TOKEN"] = "hf_env" }).Token);
    }
}
