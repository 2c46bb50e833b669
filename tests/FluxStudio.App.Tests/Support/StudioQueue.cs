using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.Engine.Memory;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Tests.Support;

/// <summary>
/// The queue's three parts over one sandbox, wired as the app wires them: <see cref="Queue"/> (jobs),
/// <see cref="Worker"/> (runs them through the generation use case) and <see cref="Events"/>. Their members are
/// repeated here so a test reads as the story of one queue.
/// </summary>
public sealed class StudioQueue
{
    public StudioQueue(StudioDatabase database, GenerationRequestValidator validator, ImageGenerationService generation,
        IOptions<StudioOptions> options, TimeProvider time, IMemoryRemedyWording? memoryWording = null)
    {
        var jobs = new JobStore(database);
        var running = new RunningJobs();
        Events = new GenerationEvents();
        Queue = new GenerationQueue(jobs, Events, running, validator, options, time);
        Worker = new GenerationWorker(jobs, Events, running, generation, options, time, memoryWording: memoryWording);
    }

    public GenerationQueue Queue { get; }
    public GenerationWorker Worker { get; }
    public GenerationEvents Events { get; }

    public event EventHandler<QueueEvent>? Changed
    {
        add => Events.Changed += value;
        remove => Events.Changed -= value;
    }

    public Task<GenerationJob> EnqueueAsync(GenerationRequest request, CancellationToken ct) => Queue.EnqueueAsync(request, ct);
    public Task<GenerationJob?> GetAsync(long id, CancellationToken ct) => Queue.GetAsync(id, ct);
    public Task<IReadOnlyList<GenerationJob>> ListActiveAsync(CancellationToken ct) => Queue.ListActiveAsync(ct);
    public Task<IReadOnlyList<GenerationJob>> ListRecentAsync(int limit, CancellationToken ct) => Queue.ListRecentAsync(limit, ct);
    public Task<CancelResult> CancelAsync(long id, CancellationToken ct) => Queue.CancelAsync(id, ct);
    public Task<int> RecoverAsync(CancellationToken ct) => Queue.RecoverAsync(ct);
    public Task<bool> RunNextAsync(string device, CancellationToken ct) => Worker.RunNextAsync(device, ct);
    public IAsyncEnumerable<QueueEvent> SubscribeAsync(CancellationToken ct) => Events.SubscribeAsync(ct);
}
