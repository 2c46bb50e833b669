using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using FluxStudio.App.Inputs;
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
        Jobs = new JobStore(database);
        Running = new RunningJobs();
        Events = new GenerationEvents();
        Workers = new WorkerRegistry(database);
        Queue = new GenerationQueue(Jobs, Events, Running, validator, options, time, workers: Workers);
        Worker = new GenerationWorker(Jobs, Events, Running, generation, new InputImageStore(options, time), options, time, memoryWording: memoryWording);
    }

    public JobStore Jobs { get; }
    public WorkerRegistry Workers { get; }
    public GenerationQueue Queue { get; }
    public GenerationWorker Worker { get; }
    public GenerationEvents Events { get; }
    public RunningJobs Running { get; }

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
    public Task<int> RecoverExpiredAsync(CancellationToken ct) => Queue.RecoverExpiredAsync(ct);
    public Task<bool> RunNextAsync(string device, CancellationToken ct) => Worker.RunNextAsync(device, ct);
    public Task<bool> RunNextAsync(WorkerProfile worker, CancellationToken ct) => Worker.RunNextAsync(worker, ct);
    public IAsyncEnumerable<QueueEvent> SubscribeAsync(CancellationToken ct) => Events.SubscribeAsync(ct);
}
