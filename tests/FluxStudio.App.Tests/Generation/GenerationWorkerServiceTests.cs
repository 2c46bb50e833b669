using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.App.Loras;
using FluxStudio.App.Outputs;
using FluxStudio.App.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FluxStudio.App.Tests.Generation;

public sealed class GenerationWorkerServiceTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();

    public void Dispose() => _sandbox.Dispose();

    private IHost BuildHost(IImageGenerator generator, string outputRoot = "pictures")
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FluxStudio:DataRoot"] = _sandbox.Root,
            ["FluxStudio:OutputRoot"] = outputRoot,
            ["FluxStudio:Queue:MaxLength"] = "7",
            ["FluxStudio:Queue:Devices:0"] = "cpu",
            ["FluxStudio:Validation:MaxSteps"] = "8",
        });
        builder.Services.AddFluxStudioCore(builder.Configuration);
        builder.Services.AddSingleton(generator);
        return builder.Build();
    }

    [Fact]
    public void AddFluxStudioCore_registers_every_service_bound_to_configuration()
    {
        using var host = BuildHost(new FakeImageGenerator());
        var services = host.Services;

        Assert.Equal(7, services.GetRequiredService<GenerationQueue>().MaxLength);
        Assert.Equal(["cpu"], services.GetRequiredService<Microsoft.Extensions.Options.IOptions<StudioOptions>>().Value.Queue.Devices);
        Assert.Equal(Path.Combine(_sandbox.Root, "pictures"), services.GetRequiredService<OutputStore>().OutputRoot);
        Assert.Equal(Path.Combine(_sandbox.Root, "lora"), services.GetRequiredService<LoraCatalog>().Folder);
        Assert.NotNull(services.GetRequiredService<HistoryStore>());
        Assert.NotNull(services.GetRequiredService<OriginalHistoryImporter>());
        // The validator takes its limits from configuration.
        Assert.Contains("between 1 and 8", services.GetRequiredService<GenerationRequestValidator>().Validate(TestRequests.Small() with { Steps = 9 }).Errors["Steps"]);
        Assert.Contains(services.GetServices<IHostedService>(), s => s is GenerationWorkerService);
    }

    [Fact]
    public async Task The_hosted_worker_repairs_history_recovers_jobs_and_runs_new_ones()
    {
        // Left by a previous run: a half-finished save and a job still waiting in the queue.
        var options = new StudioOptions { DataRoot = _sandbox.Root, OutputRoot = "pictures" };
        using (var previous = new StudioSandbox(_sandbox.Root, o => o.OutputRoot = "pictures"))
        {
            await previous.CreateQueue(null).EnqueueAsync(TestRequests.Small("left in the queue"), CancellationToken.None);
            previous.History.CrashPoints.Hook = p => { if (p == "save:image-temp-written") throw new SimulatedCrashException(p); };
            await Assert.ThrowsAsync<SimulatedCrashException>(() => previous.SaveImageAsync("half saved"));
        }
        var generator = new FakeImageGenerator();
        using var host = BuildHost(generator);
        var queue = host.Services.GetRequiredService<GenerationQueue>();
        var finished = new List<QueueEvent>();
        var bothFinished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Services.GetRequiredService<GenerationEvents>().Changed += (_, e) =>
        {
            if (e.Kind is not (QueueEventKind.Completed or QueueEventKind.Failed))
                return;
            lock (finished)
            {
                finished.Add(e);
                if (finished.Count == 2)
                    bothFinished.TrySetResult();
            }
        };

        await host.StartAsync();
        var job = await queue.EnqueueAsync(TestRequests.Small("from the web"), CancellationToken.None);
        await bothFinished.Task.WaitAsync(TestWait.HangGuard);
        await host.StopAsync();

        Assert.All(finished, e => Assert.Equal(QueueEventKind.Completed, e.Kind));
        Assert.Equal(job.Id, finished[1].JobId);
        Assert.Equal(["left in the queue", "from the web"], generator.Requests.Select(r => r.Prompt));
        var history = host.Services.GetRequiredService<HistoryStore>();
        var entries = (await history.ListAsync(10, null, CancellationToken.None)).Entries;
        Assert.Equal(["from the web", "left in the queue"], entries.Select(e => e.Prompt).Order(StringComparer.Ordinal));
        Assert.All(entries, e => Assert.Equal(options.ResolveOutputRoot(), Path.GetDirectoryName(e.ImagePath)));
        // The half-saved image's files are gone; only the two finished images remain.
        Assert.Equal(2, Directory.EnumerateFiles(options.ResolveOutputRoot()).Count());
    }
}
