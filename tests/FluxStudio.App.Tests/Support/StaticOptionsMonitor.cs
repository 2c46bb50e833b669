namespace FluxStudio.App.Tests.Support;

/// <summary>Settings that never change, for services that read them through <see cref="Microsoft.Extensions.Options.IOptionsMonitor{T}"/>.</summary>
internal sealed class StaticOptionsMonitor<T>(T value) : Microsoft.Extensions.Options.IOptionsMonitor<T>
{
    public T CurrentValue => value;
    public T Get(string? name) => value;
    public IDisposable? OnChange(Action<T, string?> listener) => null;
}
