using System.Data.Common;

namespace FluxStudio.App.History;

/// <summary>
/// A save made by a queued job's run. <see cref="Token"/>, the run's claim on its job, stays on the history row while
/// the files are written, so a repair can tell whether the writer still holds the job. <see cref="ConfirmAsync"/> runs in
/// the transaction that marks the row saved, given the row's id: it records the image with its job if the run still
/// holds the job, and returns false otherwise, which rolls the save back. So a job whose run lost its claim (its worker
/// stalled past the lease, and the job went to another) never gets an image twice.
/// </summary>
public sealed record SaveClaim(string Token, Func<DbTransaction, long, CancellationToken, Task<bool>> ConfirmAsync);
