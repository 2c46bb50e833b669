namespace FluxStudio.Engine;

/// <summary>
/// Reports on the caller's thread, in order. <see cref="Progress{T}"/> posts each report to the thread pool, so
/// steps can arrive late or out of order; generation steps and the tests that watch them need them as they happen.
/// </summary>
public sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
