namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// Holds one loaded model and hands it out under a lease; loads again only when the requested key differs from
/// the loaded one (the old model is freed first, so two never share memory). Safe to call from several threads:
/// a caller waits while another holds the model, so a model is never replaced while in use.
/// </summary>
public sealed class ModelCache<TModel> : IDisposable where TModel : class, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private TModel? _model;
    private ModelKey? _key;
    private int _loadCount;

    /// <summary>The key of the model that is loaded now, if any.</summary>
    public ModelKey? LoadedKey => Volatile.Read(ref _key);

    /// <summary>How many times a model was loaded since this cache was made.</summary>
    public int LoadCount => Volatile.Read(ref _loadCount);

    public async Task<Lease> AcquireAsync(ModelKey key, Func<ModelKey, CancellationToken, Task<TModel>> load,
        CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_model is null || !key.Equals(_key))
            {
                Unload();
                _model = await load(key, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _key, key);
                Interlocked.Increment(ref _loadCount);
            }
            return new Lease(this, _model);
        }
        catch
        {
            _gate.Release();
            throw;
        }
    }

    /// <summary>Frees the loaded model (waits until nobody holds it).</summary>
    public async Task ClearAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Unload();
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Unload()
    {
        _model?.Dispose();
        _model = null;
        Volatile.Write(ref _key, null);
    }

    public void Dispose()
    {
        Unload();
        _gate.Dispose();
    }

    /// <summary>The model, held until disposed.</summary>
    public sealed class Lease(ModelCache<TModel> cache, TModel model) : IDisposable
    {
        private int _released;

        public TModel Model { get; } = model;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) cache._gate.Release();
        }
    }
}
