using Microsoft.Extensions.Logging;

namespace FluxStudio.App.Generation;

/// <summary>
/// A worker's loop, for generation jobs and training runs alike: runs the next piece of work while there is some, else
/// waits until this process queues some or the poll interval has passed (polling picks up what other processes queue).
/// A failure to read the queue (the database away for a moment) is logged and retried after the poll interval; it must
/// not stop the worker for good.
/// </summary>
internal static class WorkerLoop
{
    /// <param name="runNext">Runs the next piece of work to its end; false when none was waiting.</param>
    /// <param name="workArrived">The signal that this process queued work; taken before looking, so work queued meanwhile still wakes the loop.</param>
    /// <param name="isTransient">Whether a failure of <paramref name="runNext"/> is one to retry rather than one that stops the loop.</param>
    /// <param name="what">The worker, for the log.</param>
    public static async Task RunAsync(Func<CancellationToken, Task<bool>> runNext, Func<Task> workArrived, Func<Exception, bool> isTransient,
        TimeSpan pollInterval, TimeProvider time, ILogger logger, string what, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var signal = workArrived();
            try
            {
                if (await runNext(ct))
                    continue;
                await signal.WaitAsync(pollInterval, time, ct);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (isTransient(ex))
            {
                logger.LogError(ex, "{Worker} could not read the queue; retrying", what);
                try
                {
                    await Task.Delay(pollInterval, time, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
