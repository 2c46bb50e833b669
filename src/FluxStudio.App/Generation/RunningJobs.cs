using System.Collections.Concurrent;

namespace FluxStudio.App.Generation;

/// <summary>
/// The jobs this process is running, so that <see cref="GenerationQueue.CancelAsync"/> reaches the worker running one.
/// A cancel can arrive between the worker claiming a job and registering it; the request is kept until then. A cancel made
/// in another process reaches a run here through the job's row (<see cref="JobStore.RequestCancelAsync"/>).
/// </summary>
public sealed class RunningJobs
{
    private readonly ConcurrentDictionary<long, CancellationTokenSource> _running = new();
    private readonly ConcurrentDictionary<long, bool> _cancelRequested = new();

    /// <summary>
    /// Registers a claimed job; the returned token source is cancelled by a cancel request (already, if one came
    /// first) or by <paramref name="stopping"/>. Dispose the registration when the job has ended.
    /// </summary>
    public Registration Register(long jobId, CancellationToken stopping)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _running[jobId] = source;
        if (_cancelRequested.ContainsKey(jobId))
            source.Cancel();
        return new Registration(this, jobId, source);
    }

    /// <summary>Asks a running job to stop at its next step.</summary>
    public async Task RequestCancelAsync(long jobId)
    {
        _cancelRequested[jobId] = true;
        if (_running.TryGetValue(jobId, out var source))
            await source.CancelAsync();
    }

    public bool IsCancelRequested(long jobId) => _cancelRequested.ContainsKey(jobId);

    /// <summary>Whether this process runs the job now.</summary>
    public bool IsRunning(long jobId) => _running.ContainsKey(jobId);

    /// <summary>Stops a job's run without counting it as cancelled: its worker no longer holds the job.</summary>
    public async Task StopAsync(long jobId)
    {
        if (_running.TryGetValue(jobId, out var source))
            await source.CancelAsync();
    }

    public sealed class Registration(RunningJobs owner, long jobId, CancellationTokenSource source) : IDisposable
    {
        public CancellationToken Token => source.Token;

        public bool IsCancelled => source.IsCancellationRequested;

        public void Dispose()
        {
            owner._running.TryRemove(jobId, out _);
            owner._cancelRequested.TryRemove(jobId, out _);
            source.Dispose();
        }
    }
}
