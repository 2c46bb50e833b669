using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Engine.Tests.Pipeline;

public sealed class ModelCacheTests
{
    private sealed class FakeModel(ModelKey key) : IDisposable
    {
        public ModelKey Key { get; } = key;
        public bool Disposed { get; private set; }
        public void Dispose() => Disposed = true;
    }

    private static Task<FakeModel> Load(ModelKey key, CancellationToken _) => Task.FromResult(new FakeModel(key));

    private static ModelKey Key(string alias = "schnell", int? quantize = 8, string? path = null, string device = "cpu",
        string precision = "fp32") => new(alias, quantize, path, device, precision);

    [Fact]
    public async Task ReloadsExactlyWhenTheKeyChanges()
    {
        using var cache = new ModelCache<FakeModel>();
        var sequence = new (ModelKey Key, bool Reload)[]
        {
            (Key(), true),
            (Key(), false),
            (Key(quantize: 4), true),
            (Key(quantize: 4), false),
            (Key("dev", 4), true),
            (Key("dev", 4, "/models/flux"), true),
            (Key("dev", 4, "/models/flux"), false),
            (Key("dev", 4, "/models/flux", device: "cuda"), true),
            (Key("dev", 4, "/models/flux", device: "cuda"), false),
            (Key("dev", 4, "/models/flux", device: "cuda", precision: "bf16"), true),
        };
        int expectedLoads = 0;
        FakeModel? previous = null;
        foreach (var (key, reload) in sequence)
        {
            if (reload) expectedLoads++;
            using var lease = await cache.AcquireAsync(key, Load, CancellationToken.None);
            Assert.Equal(expectedLoads, cache.LoadCount);
            Assert.Equal(key, cache.LoadedKey);
            Assert.Equal(key, lease.Model.Key);
            if (reload && previous != null) Assert.True(previous.Disposed, "the replaced model must be freed");
            if (!reload) Assert.Same(previous, lease.Model);
            previous = lease.Model;
        }
    }

    [Fact]
    public async Task AModelInUseIsNotReplacedUntilItsLeaseEnds()
    {
        using var cache = new ModelCache<FakeModel>();
        var first = await cache.AcquireAsync(Key(), Load, CancellationToken.None);
        var second = cache.AcquireAsync(Key("dev"), Load, CancellationToken.None);
        await Task.Delay(50);
        Assert.False(second.IsCompleted);
        Assert.False(first.Model.Disposed);
        first.Dispose();
        using var lease = await second;
        Assert.True(first.Model.Disposed);
        Assert.Equal("dev", lease.Model.Key.ModelAlias);
    }

    [Fact]
    public async Task ConcurrentCallersWithTheSameKeyLoadOnce()
    {
        using var cache = new ModelCache<FakeModel>();
        var tasks = Enumerable.Range(0, 8).Select(async _ =>
        {
            using var lease = await cache.AcquireAsync(Key(), async (k, ct) => { await Task.Yield(); return new FakeModel(k); }, CancellationToken.None);
            return lease.Model;
        });
        var models = await Task.WhenAll(tasks);
        Assert.Equal(1, cache.LoadCount);
        Assert.All(models, m => Assert.Same(models[0], m));
    }

    [Fact]
    public async Task AFailedLoadLeavesNothingLoadedAndReleasesTheCache()
    {
        using var cache = new ModelCache<FakeModel>();
        await Assert.ThrowsAsync<FileNotFoundException>(() =>
            cache.AcquireAsync(Key(), (_, _) => throw new FileNotFoundException("no weights"), CancellationToken.None));
        Assert.Null(cache.LoadedKey);
        using var lease = await cache.AcquireAsync(Key(), Load, CancellationToken.None);
        Assert.Equal(1, cache.LoadCount);
    }
}
