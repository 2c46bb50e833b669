using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Layers;
using FluxStudio.Engine.Lora;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.Text;
using FluxStudio.Engine.Text.Clip;
using FluxStudio.Engine.Text.T5;
using FluxStudio.Engine.Vae;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Pipeline;

/// <summary>
/// The parts of one FLUX.1 model on one device. In low-memory mode the text encoders are loaded for each prompt and
/// freed right after it is encoded, the transformer is loaded only once the prompt is encoded, and the VAE only for
/// decoding (freed after it), so the transformer is the only large part that stays.
/// </summary>
public sealed class LoadedFluxModel : IDisposable
{
    private readonly ModelLocation _location;
    private readonly Lock _gate = new();
    private ClipTextModel? _clip;
    private T5Encoder? _t5;
    private FluxTransformer? _transformer;
    private AutoEncoder? _vae;
    private LoraSet? _loras;
    private string[] _loraPaths = [];
    private FluxControlNet? _controlNet;
    private string? _controlNetPath;
    private readonly int? _quantizeBits;
    private readonly int? _storedBits;
    private ModelFootprint? _footprint;
    private readonly Task<FluxTokenizers> _tokenizers;

    private LoadedFluxModel(ModelLocation location, ComputeTarget target, bool lowMemory, FluxConfig config, AutoEncoderConfig vaeConfig,
        Task<FluxTokenizers> tokenizers, int? quantizeBits)
    {
        VaeConfig = vaeConfig;
        _location = location;
        _quantizeBits = quantizeBits;
        _storedBits = QuantizedModels.StoredBits(location.TransformerPath);
        QuantizationBits = _storedBits ?? quantizeBits;
        Target = target;
        LowMemory = lowMemory;
        Config = config;
        _tokenizers = tokenizers;
    }

    public ComputeTarget Target { get; }

    public bool LowMemory { get; }

    public FluxConfig Config { get; }

    /// <summary>The VAE's configuration (latent channels, downsampling factor), known without loading it.</summary>
    public AutoEncoderConfig VaeConfig { get; }

    public FluxTokenizers Tokenizers => _tokenizers.GetAwaiter().GetResult();

    /// <summary>The release these weights are, read from the transformer's config (whatever name it was loaded by).</summary>
    public FluxVariant Variant => FluxVariants.FromWeights(Config.GuidanceEmbed);

    /// <summary>Guidance-distilled (dev-style): takes a guidance scale, 512 T5 tokens and a shifted schedule.</summary>
    public bool IsGuidanceDistilled => Variant.TakesGuidance();

    /// <summary>The bit width the transformer runs at: read from a stored quantized model, else the one asked for; null when dense.</summary>
    public int? QuantizationBits { get; }

    /// <summary>What the parts take once loaded, read from the files' headers the first time it is asked for.</summary>
    public ModelFootprint Footprint => _footprint ??= ModelFootprint.Read(_location, Target.DType, _quantizeBits);

    /// <summary>The parts loaded now.</summary>
    public IReadOnlySet<ModelPart> ResidentParts
    {
        get
        {
            lock (_gate)
            {
                var parts = new HashSet<ModelPart>();
                if (_transformer is not null) parts.Add(ModelPart.Transformer);
                if (_t5 is not null) parts.Add(ModelPart.T5);
                if (_clip is not null) parts.Add(ModelPart.Clip);
                if (_vae is not null) parts.Add(ModelPart.Vae);
                if (_controlNet is not null) parts.Add(ModelPart.ControlNet);
                return parts;
            }
        }
    }

    /// <summary>Checks the files and reads the configurations; loads every part now unless in low-memory mode.</summary>
    /// <param name="quantizeBits">4 or 8 to quantize the transformer and T5 while loading full-precision weights; a
    /// stored quantized model is loaded at its own bit width whatever this says.</param>
    public static LoadedFluxModel Load(ModelLocation location, ComputeTarget target, bool lowMemory, int? quantizeBits = null)
    {
        if (quantizeBits is { } bits && !QuantizedWeight.SupportedBits.Contains(bits))
            throw new ArgumentOutOfRangeException(nameof(quantizeBits), bits, "Quantize to 4 or 8 bits, or leave quantization off.");
        var config = FluxTransformer.ReadConfig(location.TransformerPath, location.TransformerParamsJson);
        // The vocabularies are read while the weights load (a fifth of the time loading FLUX.1 takes otherwise).
        var tokenizers = Task.Run(() =>
            new FluxTokenizers(ClipTokenizer.FromFolder(location.TokenizerPath), T5Tokenizer.FromFolder(location.Tokenizer2Path)));
        var model = new LoadedFluxModel(location, target, lowMemory, config, VaeCheckpoint.Locate(location.VaePath).ReadConfig(), tokenizers, quantizeBits);
        try
        {
            if (!lowMemory)
            {
                _ = model.Vae;
                model.LoadTextEncoders();
                _ = model.Transformer;
            }
            _ = model.Tokenizers;
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public FluxTransformer Transformer
    {
        get
        {
            lock (_gate)
                return _transformer ??= ModuleLifetime.LoadUnscoped(() =>
                    QuantizedModels.LoadTransformer(_location.TransformerPath, Target.DType, Target.Device, _location.TransformerParamsJson, _quantizeBits));
        }
    }

    public AutoEncoder Vae
    {
        get
        {
            lock (_gate)
                return _vae ??= ModuleLifetime.LoadUnscoped(() => AutoEncoder.Load(_location.VaePath, Target.DType, Target.Device));
        }
    }

    /// <summary>Runs <paramref name="decode"/> with the VAE; in low-memory mode the VAE is loaded for it and freed after it.</summary>
    public T WithVae<T>(Func<AutoEncoder, T> decode)
    {
        try
        {
            return decode(Vae);
        }
        finally
        {
            if (LowMemory)
                lock (_gate)
                {
                    _vae?.Dispose();
                    _vae = null;
                }
        }
    }

    /// <summary>The LoRAs attached to the transformer now, with their scales and unmatched keys.</summary>
    public IReadOnlyList<AppliedLora> Loras => _loras?.Loras ?? [];

    /// <summary>
    /// What differs from what was asked for when loading: a stored bit width that overrides the one asked for, LoRA keys
    /// that match no layer. In sentences for the user; every generation with this model reports them.
    /// </summary>
    public IReadOnlyList<string> Warnings
    {
        get
        {
            var warnings = new List<string>();
            if (_quantizeBits is { } asked && _storedBits is { } stored && stored != asked)
                warnings.Add($"The model at {_location.Origin} is stored in {stored} bits; quantize {asked} was ignored.");
            foreach (var lora in Loras.Where(l => l.UnmatchedKeys.Count > 0))
                warnings.Add($"{lora.UnmatchedKeys.Count} keys of the LoRA {Path.GetFileName(lora.Path)} match no layer of this model and were skipped: "
                             + string.Join(", ", lora.UnmatchedKeys.Take(5)) + (lora.UnmatchedKeys.Count > 5 ? ", …" : ""));
            return warnings;
        }
    }

    /// <summary>How many times LoRA files were read and attached (not counting scale changes).</summary>
    public int LoraAttachCount { get; private set; }

    /// <summary>
    /// Applies exactly these LoRAs, at run time: the same files with other scales only change the scales (no file is
    /// read and nothing is reloaded); another set of files replaces the attached one. An empty list removes them.
    /// </summary>
    public void UseLoras(IReadOnlyList<(string Path, double Scale)> loras)
    {
        var paths = loras.Select(l => Path.GetFullPath(l.Path)).ToArray();
        lock (_gate)
        {
            if (paths.SequenceEqual(_loraPaths) && _loras is not null)
            {
                for (int i = 0; i < loras.Count; i++) _loras.SetScale(i, loras[i].Scale);
                return;
            }
            _loras?.Dispose();
            (_loras, _loraPaths) = (null, []);
            if (paths.Length == 0) return;
        }
        var files = paths.Select(path => LoraFile.Load(path, Config)).ToList();
        try
        {
            var transformer = Transformer;
            lock (_gate)
            {
                _loras = LoraSet.Attach(transformer, files.Zip(loras, (f, l) => (f, l.Scale)).ToList());
                _loraPaths = paths;
                LoraAttachCount++;
            }
        }
        finally
        {
            foreach (var file in files) file.Dispose();
        }
    }

    /// <summary>The folder of the ControlNet in use, or null when none is.</summary>
    public string? ControlNetPath
    {
        get
        {
            lock (_gate) return _controlNetPath;
        }
    }

    /// <summary>The ControlNet in use (loaded on first use in low-memory mode), or null when none is.</summary>
    public FluxControlNet? ControlNet
    {
        get
        {
            lock (_gate)
            {
                if (_controlNetPath is not { } path) return null;
                if (_controlNet is null)
                {
                    _controlNet = ModuleLifetime.LoadUnscoped(() => FluxControlNet.Load(path, Target.DType, Target.Device, QuantizationBits));
                    ControlNetLoadCount++;
                }
                return _controlNet;
            }
        }
    }

    /// <summary>How many times a ControlNet's weights were read.</summary>
    public int ControlNetLoadCount { get; private set; }

    /// <summary>
    /// Uses the ControlNet in <paramref name="folder"/> (config.json + weights), quantized like the transformer, or none
    /// when null. The same folder again changes nothing; another one replaces it; null frees it. Nothing else is reloaded.
    /// Outside low-memory mode the weights are read now, so a broken file is reported here.
    /// </summary>
    /// <exception cref="InvalidDataException">The ControlNet is not an InstantX-style FLUX ControlNet for this model.</exception>
    public void UseControlNet(string? folder)
    {
        var path = folder is null ? null : Path.GetFullPath(folder);
        lock (_gate)
        {
            if (path == _controlNetPath) return;
            _controlNet?.Dispose();
            (_controlNet, _controlNetPath) = (null, null);
        }
        if (path is null) return;
        FluxControlNet.CheckFits(FluxControlNet.ReadConfig(path), Config, path);
        lock (_gate) _controlNetPath = path;
        if (LowMemory) return;
        try
        {
            _ = ControlNet;
        }
        catch
        {
            lock (_gate) _controlNetPath = null;
            throw;
        }
    }

    /// <summary>T5 features (1, L, d) and the pooled CLIP vector (1, d) of token ids, in the model's dtype.</summary>
    public TextConditioning Encode(long[] clipIds, long[] t5Ids)
    {
        LoadTextEncoders();
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var clipInput = tensor(clipIds, [1, clipIds.Length], device: Target.Device);
            var t5Input = tensor(t5Ids, [1, t5Ids.Length], device: Target.Device);
            var pooled = _clip!.Encode(clipInput).Pooled;
            var features = _t5!.Encode(t5Input).LastHiddenState;
            var ids = LatentPacking.TextIds(1, t5Ids.Length, Target.Device);
            return new TextConditioning(features.MoveToOuterDisposeScope(), ids.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope());
        }
        finally
        {
            if (LowMemory) FreeTextEncoders();
        }
    }

    private void LoadTextEncoders()
    {
        lock (_gate)
        {
            _clip ??= ModuleLifetime.LoadUnscoped(() => ClipTextModel.Load(_location.TextEncoderPath, Target.DType, Target.Device));
            _t5 ??= ModuleLifetime.LoadUnscoped(() => QuantizedModels.LoadT5(_location.TextEncoder2Path, Target.DType, Target.Device, _quantizeBits));
        }
    }

    /// <summary>
    /// Frees the text encoders and the VAE now; each is loaded again when next needed. LoRA training encodes its images
    /// and captions once and then needs only the transformer, so this leaves memory to the training step.
    /// </summary>
    public void ReleaseEncoders()
    {
        lock (_gate)
        {
            _vae?.Dispose();
            _vae = null;
        }
        FreeTextEncoders();
    }

    private void FreeTextEncoders()
    {
        lock (_gate)
        {
            _clip?.Dispose();
            _t5?.Dispose();
            (_clip, _t5) = (null, null);
        }
        GC.Collect();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _loras?.Dispose();
            _controlNet?.Dispose();
            _clip?.Dispose();
            _t5?.Dispose();
            _transformer?.Dispose();
            _vae?.Dispose();
            (_clip, _t5, _transformer, _vae, _controlNet) = (null, null, null, null, null);
        }
        DequantizationScratch.Release();
    }
}
