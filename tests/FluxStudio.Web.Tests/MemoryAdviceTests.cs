using FluxStudio.App.Generation;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Tests.Memory;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.TinyModel;
using FluxStudio.Web.Services;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using static FluxStudio.Web.Tests.ApiClient;

namespace FluxStudio.Web.Tests;

/// <summary>Memory advice on the web is given in the Generate tab's terms, never in the CLI's.</summary>
public sealed class MemoryAdviceTests : IDisposable
{
    private readonly StudioFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    [Fact]
    public void RemediesNameTheFormsFieldsTheQuantizationMenuAndTheLowMemorySetting()
    {
        var wording = new WebMemoryRemedyWording();
        var shortfall = new MemoryShortfall(2048, 2048, null, 37_000_000_000, 16_000_000_000,
            [new MemoryRemedy(Width: 1024, Height: 1024), new MemoryRemedy(QuantizeBits: 8), new MemoryRemedy(LowMemory: true),
             new MemoryRemedy(768, 512, 4, LowMemory: true)]);

        Assert.Equal("A 2048 × 2048 image needs about 37 GB of memory and 16 GB is available; it would fit with Width 1024 and " +
                     "Height 1024, with 8 bit in the Quantization menu, with the low-memory setting on " +
                     "(FluxStudio:Engine:LowMemory = true) or with 4 bit in the Quantization menu, the low-memory setting on " +
                     "(FluxStudio:Engine:LowMemory = true) and Width 768 and Height 512.", shortfall.Describe(wording));
    }

    [Fact]
    public async Task AJobSizedBeyondTheMachineFailsAtOnceWithTheWebsWording()
    {
        var model = Path.Combine(_factory.DataRoot, "tiny");
        TinyModelWriter.Write(model, dev: false, seed: 2);
        // The real engine, on a machine that has room for a 512 × 512 image whatever this one has.
        var room = GenerationMemory.Estimate(ModelFootprint.Read(ModelLocator.FromDiffusersFolder(model), ComputeTarget.Resolve("auto", "auto").DType,
            null), new MemoryRequest(512, 512, LowMemory: true)).TotalBytes;
        using var factory = _factory.WithWebHostBuilder(builder => builder.ConfigureTestServices(services =>
        {
            services.RemoveAll<IImageGenerator>();
            services.AddSingleton<IImageGenerator>(sp => sp.GetRequiredService<FluxImageGenerator>());
            services.AddSingleton<IDeviceMemory>(new FixedMemory(room));
        }));
        using var client = factory.CreateClient();

        var status = await WaitFinishedAsync(client,
            await QueueAsync(client, new { prompt = "a lighthouse", model = "schnell", steps = 2, seed = 1, width = 2048, height = 2048, path = model }));

        Assert.Equal("failed", status.Status);
        Assert.Matches(@"^A 2048 × 2048 image needs about [0-9.]+ GB of memory and [0-9.]+ GB is available; it would fit with Width \d+ and Height \d+\.$",
            status.Error);
        Assert.Equal(0, factory.Services.GetRequiredService<FluxImageGenerator>().LoadCount);
    }
}
