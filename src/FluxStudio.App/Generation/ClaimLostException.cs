namespace FluxStudio.App.Generation;

/// <summary>
/// A worker's run no longer holds its job: the worker did not renew its lease in time (it stalled, or lost the
/// database), and the job went back to the queue or to another worker. The run stops without touching the job.
/// </summary>
public sealed class ClaimLostException()
    : Exception("This worker lost its claim on the job (its lease ran out); the job went back to the queue, and this run was discarded.");
