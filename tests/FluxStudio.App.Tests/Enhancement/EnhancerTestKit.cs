using FluxStudio.App.Enhancement;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.App.Tests.Enhancement;

internal static class EnhancerTestKit
{
    /// <summary>A PNG signature and header chunk: enough for the format check, never decoded by the fake server.</summary>
    public static readonly byte[] PngBytes =
    [
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xDE,
    ];

    /// <summary>Guards against a hang turning into a stuck test run; never part of an assertion.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);

    public static ServiceProvider Services(Uri endpoint, Action<EnhancerOptions>? configure = null, TimeProvider? clock = null)
    {
        var services = new ServiceCollection().AddLogging();
        if (clock is not null)
            services.AddSingleton(clock);
        services.AddPromptEnhancer(options =>
        {
            options.Endpoint = endpoint.ToString();
            configure?.Invoke(options);
        });
        return services.BuildServiceProvider();
    }

    public static PromptEnhancer Enhancer(this ServiceProvider services) => services.GetRequiredService<PromptEnhancer>();

    public static async Task<List<T>> CollectAsync<T>(IAsyncEnumerable<T> items, List<T>? into = null)
    {
        var received = into ?? [];
        await foreach (var item in items)
            received.Add(item);
        return received;
    }

    /// <summary>An address where nothing listens: a port the system just gave out and took back.</summary>
    public sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }
}
