using FluxStudio.App.Generation;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Tests.Memory;
using FluxStudio.Engine.Tests;
using FluxStudio.Engine.TinyModel;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Tests.Generation;

/// <summary>What a worker says it can run: the models it has, and for each the largest image its memory holds.</summary>
public sealed class WorkerCapabilitiesTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private WorkerProfile Describe(double? memoryGB, params string[] models) => DescribeWithControlNet(memoryGB, null, models);

    private WorkerProfile DescribeWithControlNet(double? memoryGB, string? controlNet, params string[] models)
    {
        var hub = HubSettings.Resolve(new ModelHubOptions { CacheDirectory = Directory.CreateDirectory(Path.Combine(_dir.Path, "empty-hub")).FullName }, _ => null);
        var studio = new StudioOptions { DataRoot = _dir.Path, Worker = { Models = [.. models], Name = "gpu-box" } };
        var engine = new EngineOptions { Device = "cpu", Precision = "fp32", ControlNetPath = controlNet };
        var capabilities = new WorkerCapabilities(Options.Create(studio), Options.Create(engine), new ModelLocator(hub),
            memory: new FixedMemory(memoryGB is { } gb ? (long)(gb * (1L << 30)) : null), controlNets: new ControlNetLocator(hub));
        return capabilities.Describe("default");
    }

    [Fact]
    public void A_worker_offers_the_models_it_has_up_to_the_image_its_memory_holds()
    {
        var tiny = Path.Combine(_dir.Path, "tiny");
        TinyModelWriter.Write(tiny, dev: false, seed: 3);
        var missing = Path.Combine(_dir.Path, "not-there");

        var roomy = Describe(2, tiny + "/", missing);
        var tight = Describe(1.05, tiny);

        Assert.Equal("gpu-box", roomy.Name);
        Assert.Equal(2L << 30, roomy.MemoryBytes);
        // The path in one spelling; nothing for the folder that is not there, nor for releases not in the (empty) cache.
        Assert.Equal([(tiny, (int?)null), (tiny, 8), (tiny, 4)], roomy.Capacities!.Select(c => (c.Model, c.Quantize)));
        Assert.All(roomy.Capacities!, c => Assert.True(c.MaxPixels > 1024L * 1024));
        // Quantized weights never leave less room for the image; less memory leaves less.
        Assert.True(roomy.Capacities![2].MaxPixels >= roomy.Capacities[0].MaxPixels);
        Assert.All(tight.Capacities!.Zip(roomy.Capacities!), pair => Assert.True(pair.First.MaxPixels < pair.Second.MaxPixels));
        Assert.True(roomy.CanRun(new JobNeeds(tiny, 8, 64 * 64)));
        Assert.False(roomy.CanRun(new JobNeeds("schnell", null, 64 * 64)));
    }

    [Fact]
    public void Without_room_for_the_weights_a_worker_offers_nothing()
    {
        var tiny = Path.Combine(_dir.Path, "tiny");
        TinyModelWriter.Write(tiny, dev: false, seed: 3);

        Assert.Empty(Describe(0.2, tiny).Capacities!);
    }

    [Fact]
    public void A_worker_with_the_ControlNet_also_offers_guided_jobs_within_the_memory_left_with_it()
    {
        var model = App.Tests.Support.ControlNetFixture.PipelineModel;
        var controlNet = App.Tests.Support.ControlNetFixture.ControlNetFolder;

        var without = Describe(1.5, model);
        var with = DescribeWithControlNet(1.5, controlNet, model);

        Assert.DoesNotContain(without.Capacities!, c => c.ControlNet);
        var plain = with.Capacities!.Where(c => !c.ControlNet).ToList();
        var guided = with.Capacities!.Where(c => c.ControlNet).ToList();
        Assert.Equal(without.Capacities, plain);
        Assert.Equal(plain.Select(c => (c.Model, c.Quantize)), guided.Select(c => (c.Model, c.Quantize)));
        // The tiny ControlNet's weights and residuals are small beside the tiny VAE's activations: never more room, maybe as much.
        Assert.All(plain.Zip(guided), pair => Assert.True(pair.Second.MaxPixels <= pair.First.MaxPixels));
        var key = JobNeeds.ModelKey(model, FluxVariant.Dev);
        Assert.False(without.CanRun(new JobNeeds(key, null, 64 * 64, ControlNet: true)));
        Assert.True(with.CanRun(new JobNeeds(key, null, 64 * 64, ControlNet: true)));
        Assert.False(with.CanRun(new JobNeeds(key, null, guided[0].MaxPixels!.Value + 1, ControlNet: true)));
    }
}
