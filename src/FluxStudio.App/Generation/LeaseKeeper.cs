using Microsoft.Extensions.Logging;

namespace FluxStudio.App.Generation;

/// <summary>
/// Renews a worker's claim (a generation job's or a training run's) every third of its lease while the work goes on. A
/// renewal that finds the claim gone stops the work (<see cref="Lost"/>); one that finds a cancel request in the row
/// cancels it, which is how a cancel made in another process reaches this one. A renewal that fails (the database away
/// for a moment) is tried again at the next tick: if the database stays away past the lease, the work goes to another
/// worker and this one's completion finds it gone.
/// </summary>
internal sealed class LeaseKeeper : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    /// <param name="what">The work, for the log: "Job 12", "Training run …".</param>
    /// <param name="renew">Renews the claim: null when it is gone, else whether someone asked to cancel.</param>
    public LeaseKeeper(TimeSpan lease, TimeProvider time, ILogger logger, string what, Func<CancellationToken, Task<bool?>> renew,
        Func<Task> onLost, Func<Task> onCancelRequested) =>
        _loop = Task.Run(() => RenewAsync(lease, time, logger, what, renew, onLost, onCancelRequested));

    public bool Lost { get; private set; }

    private async Task RenewAsync(TimeSpan lease, TimeProvider time, ILogger logger, string what, Func<CancellationToken, Task<bool?>> renew,
        Func<Task> onLost, Func<Task> onCancelRequested)
    {
        using var timer = new PeriodicTimer(lease / 3, time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                bool? cancelRequested;
                try
                {
                    cancelRequested = await renew(_stop.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning(ex, "{What}: renewing the lease failed; trying again", what);
                    continue;
                }
                if (cancelRequested is null)
                {
                    Lost = true;
                    await onLost();
                    return;
                }
                if (cancelRequested.Value)
                    await onCancelRequested();
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
