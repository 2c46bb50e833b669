namespace FluxStudio.Engine.Tests.Models;

/// <summary>Reports on the caller's thread, so a test sees every report in order and can act on one at once.</summary>
internal sealed class InlineProgress<T>(Action<T> onReport) : IProgress<T>
{
    public void Report(T value) => onReport(value);
}
