using FluxStudio.App.BackgroundRemoval;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Web.Services;

namespace FluxStudio.Web.Tests;

/// <summary>The shared code's messages that give command-line advice, as the web shows them.</summary>
public sealed class WebWordingTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fluxstudio-wording-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private HubSettings Hub() => new()
    {
        CacheDirectory = Path.Combine(_folder, "hub"),
        CacheDirectorySource = "the test",
        Endpoint = new Uri("http://127.0.0.1:9/"),
    };

    public static TheoryData<string> CommandLineMessages()
    {
        var data = new TheoryData<string>
        {
            Refusal(() => ComputeTarget.Resolve("mps", null, cudaAvailable: false, mpsAvailable: false)),
            Refusal(() => ComputeTarget.Resolve("cuda", null, cudaAvailable: false, mpsAvailable: false)),
            Refusal(() => ComputeTarget.Resolve("cpu", "fp16", cudaAvailable: false, mpsAvailable: false)),
        };
        return data;
    }

    private static string Refusal(Action action) => Assert.ThrowsAny<Exception>(action).Message;

    [Theory]
    [MemberData(nameof(CommandLineMessages))]
    public void EngineMessagesSpeakOfSettingsAndControlsOnTheWeb(string message)
    {
        Assert.True(WebWording.NamesAFlag(message), $"The message no longer names a flag, so this case tests nothing: {message}");
        Assert.False(WebWording.NamesAFlag(WebWording.ForWeb(message)), WebWording.ForWeb(message));
    }

    [Fact]
    public void AMissingModelPointsToTheModelPathFieldAndTheDownloadSetting()
    {
        var hub = Hub() with { AllowDownload = false };
        var locator = new ModelLocator(hub);
        var message = Assert.ThrowsAny<Exception>(() => locator.Locate(null, "schnell")).Message;
        Assert.True(WebWording.NamesAFlag(message));

        var web = WebWording.ForWeb(message);

        Assert.False(WebWording.NamesAFlag(web), web);
        Assert.Contains("Model path field", web);
        Assert.Contains("Models:AllowDownload", web);
    }

    [Fact]
    public void AMissingBackgroundModelPointsToTheSetting()
    {
        var hub = Hub();
        var message = Assert.Throws<BackgroundRemovalException>(() =>
            MattingModelLocator.Locate(null, "briaai/RMBG-2.0", "main", hub)).Message;
        var inFolder = Assert.Throws<BackgroundRemovalException>(() =>
            MattingModelLocator.Locate(_folder, "briaai/RMBG-2.0", "main", hub)).Message;

        foreach (var text in new[] { message, inFolder })
        {
            Assert.True(WebWording.NamesAFlag(text));
            Assert.False(WebWording.NamesAFlag(WebWording.ForWeb(text)), WebWording.ForWeb(text));
        }
        Assert.Contains("BackgroundRemoval:ModelPath", WebWording.ForWeb(message));
    }

    [Fact]
    public void MessagesWithoutCommandLineAdviceAreLeftAlone()
    {
        const string message = "Width must be a multiple of 16; 50 is not. Try 48 or 64.";
        Assert.Equal(message, WebWording.ForWeb(message));
    }
}
