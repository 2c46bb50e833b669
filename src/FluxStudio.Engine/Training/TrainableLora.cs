using System.Globalization;
using FluxStudio.Engine.Flux;
using FluxStudio.Engine.Lora;
using FluxStudio.Engine.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Linear = FluxStudio.Engine.Layers.Linear;

namespace FluxStudio.Engine.Training;

/// <summary>
/// Trainable LoRA factors attached to a transformer's layers, chosen by a <see cref="LoraLayersConfig"/> and named as
/// diffusers/PEFT name the modules; the names are mapped onto our fused BFL layers by the same mapping the LoRA loader
/// uses (<see cref="LoraKeyMap"/>), so what is trained here is what the generator applies when the file is loaded back.
/// The base weights are frozen; the factors are float32 leaf tensors on the layers' device, whatever the model's dtype
/// or quantization. Disposing removes the adapters and frees the factors.
/// </summary>
public sealed class TrainableLora : IDisposable
{
    /// <summary>The version of the original app whose checkpoint layout <see cref="SaveCheckpointAdapter"/> writes; its loader reads the metadata key.</summary>
    public const string CheckpointFormatVersion = "0.10.0";

    private readonly List<LoraTrainingAdapter> _adapters = [];
    private bool _disposed;

    private TrainableLora(FluxTransformer transformer, LoraLayersConfig layers, IReadOnlyList<TrainableLoraModule> modules)
    {
        Transformer = transformer;
        Layers = layers;
        Modules = modules;
    }

    public FluxTransformer Transformer { get; }

    public LoraLayersConfig Layers { get; }

    /// <summary>In configuration order: groups (joint, then single), blocks, layer types.</summary>
    public IReadOnlyList<TrainableLoraModule> Modules { get; }

    /// <summary>Every factor by its PEFT tensor name (<c>….lora_A.weight</c>), A before B for each module.</summary>
    public IEnumerable<(string Name, Parameter Factor)> Parameters =>
        Modules.SelectMany(module => new[] { (module.PeftA, module.A), (module.PeftB, module.B) });

    /// <summary>
    /// New factors for the layers <paramref name="layers"/> selects, attached to <paramref name="transformer"/>: A uniform in
    /// ±1/√in, B zero (PEFT) or uniform in the same range (mflux), drawn from a generator seeded with <paramref name="seed"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The configuration names blocks or layers this model does not have.</exception>
    public static TrainableLora Create(FluxTransformer transformer, LoraLayersConfig layers, ulong seed)
    {
        using var generator = new Generator(seed);
        bool upRandom = layers.Initialization == LoraInitialization.Mflux;
        return Build(transformer, layers, (a, b) =>
        {
            double bound = 1 / Math.Sqrt(a.shape[1]);
            a.uniform_(-bound, bound, generator);
            if (upRandom) b.uniform_(-bound, bound, generator);
            else b.zero_();
        });
    }

    /// <summary>
    /// Factors for the layers <paramref name="layers"/> selects, read from a LoRA file: a PEFT file
    /// (<c>….lora_A.weight</c>, as <see cref="SavePeft"/> writes it) or a checkpoint adapter (<c>….lora_A</c>, ours or the
    /// original app's). A PEFT alpha is folded into B, so the loaded LoRA acts as the file does at scale 1.
    /// </summary>
    /// <exception cref="LoraFormatException">The file does not hold exactly these modules with these shapes.</exception>
    public static TrainableLora Load(FluxTransformer transformer, LoraLayersConfig layers, string path)
    {
        using var file = OpenLoraFile(path);
        var lora = Build(transformer, layers, (_, _) => { });
        try
        {
            lora.CopyFrom(file);
            return lora;
        }
        catch
        {
            lora.Dispose();
            throw;
        }
    }

    private static TrainableLora Build(FluxTransformer transformer, LoraLayersConfig layers, Action<Tensor, Tensor> initialize)
    {
        var problems = layers.Problems().Select(problem => problem.Message).ToList();
        if (problems.Count > 0) throw new ArgumentException(string.Join(" ", problems));
        var config = transformer.Config;
        var map = new LoraKeyMap(config);
        var linears = transformer.named_modules().Where(pair => pair.module is Linear)
            .ToDictionary(pair => pair.name, pair => (Linear)pair.module, StringComparer.Ordinal);
        var modules = new List<TrainableLoraModule>();
        try
        {
            using var _ = no_grad();
            foreach (var (group, blocks, types) in layers.Groups())
            {
                foreach (int block in LoraLayersConfig.Blocks(group, blocks.BlockRange, config))
                {
                    foreach (var type in blocks.LayerTypes.Select(name => types[name]))
                    {
                        string prefix = $"transformer.{group}.{block}";
                        string peft = $"{prefix}.{type.DiffusersModule}";
                        var target = map.Map(LoraFormat.Peft, peft)
                            ?? throw new InvalidOperationException($"'{peft}' maps to no layer of this model.");
                        var layer = linears[target.Target];
                        var a = empty([blocks.LoraRank, layer.InFeatures], ScalarType.Float32, layer.Device);
                        var b = empty([target.RowEnd - target.RowStart, blocks.LoraRank], ScalarType.Float32, layer.Device);
                        initialize(a, b);
                        // The factors live as long as the LoRA, whatever dispose scope the caller is in.
                        modules.Add(new TrainableLoraModule(peft, $"{prefix}.{type.CheckpointModule}", target,
                            (Parameter)nn.Parameter(a, requires_grad: true).DetachFromDisposeScope(),
                            (Parameter)nn.Parameter(b, requires_grad: true).DetachFromDisposeScope()));
                    }
                }
            }
        }
        catch
        {
            foreach (var module in modules) DisposeFactors(module);
            throw;
        }
        var lora = new TrainableLora(transformer, layers, modules);
        foreach (var group in modules.GroupBy(module => module.Target.Target))
        {
            var adapter = new LoraTrainingAdapter(linears[group.Key], group);
            adapter.Layer.Adapters.Add(adapter);
            lora._adapters.Add(adapter);
        }
        return lora;
    }

    /// <summary>The trainable factors used inside each block module of the transformer (for gradient checkpointing).</summary>
    public IReadOnlyDictionary<nn.Module, Tensor[]> FactorsByBlock()
    {
        var blocks = Transformer.named_modules().ToDictionary(pair => pair.name, pair => pair.module, StringComparer.Ordinal);
        return Modules.GroupBy(module => module.Block)
            .ToDictionary(group => blocks[group.Key], group => group.SelectMany(m => new Tensor[] { m.A, m.B }).ToArray());
    }

    /// <summary>
    /// Writes the factors as a PEFT/diffusers LoRA (<c>transformer.….lora_A.weight</c> r × in, <c>lora_B.weight</c> out × r,
    /// float32, no alpha: factor 1), which this app's generator, diffusers and ComfyUI load.
    /// </summary>
    public void SavePeft(string path) =>
        SafetensorsWriter.Write(path, Parameters.Select(p => KeyValuePair.Create(p.Name, (Tensor)p.Factor)),
            new Dictionary<string, string> { ["format"] = "pt" });

    /// <summary>
    /// Writes the factors as the original app's checkpoints store them (<c>….lora_A</c> r × in, <c>….lora_B</c> out × r, its
    /// module names, and the block settings as metadata), which its trainer resumes from and its generator loads.
    /// </summary>
    public void SaveCheckpointAdapter(string path)
    {
        var tensors = Modules.SelectMany(module => new[]
        {
            KeyValuePair.Create(module.CheckpointA, (Tensor)module.A), KeyValuePair.Create(module.CheckpointB, (Tensor)module.B),
        });
        SafetensorsWriter.Write(path, tensors, new Dictionary<string, string>
        {
            ["mflux_version"] = CheckpointFormatVersion,
            ["transformer_blocks"] = PythonRepr("TransformerBlocks", Layers.TransformerBlocks),
            ["single_transformer_blocks"] = PythonRepr("SingleTransformerBlocks", Layers.SingleTransformerBlocks),
        });
    }

    /// <summary>Replaces the factors with those of a PEFT file or a checkpoint adapter (see <see cref="Load"/>).</summary>
    public void LoadFactors(string path)
    {
        using var file = OpenLoraFile(path);
        CopyFrom(file);
    }

    private void CopyFrom(SafetensorsFile file)
    {
        bool checkpoint = Modules.Count > 0 && file.Contains(Modules[0].CheckpointA);
        var expected = Modules.SelectMany(m => checkpoint ? new[] { m.CheckpointA, m.CheckpointB } : [m.PeftA, m.PeftB]).ToHashSet();
        var alphas = checkpoint ? [] : Modules.Select(m => $"{m.PeftModule}.alpha").Where(file.Contains).ToHashSet();
        var missing = expected.Where(name => !file.Contains(name)).Order(StringComparer.Ordinal).ToList();
        var extra = file.Names.Where(name => !expected.Contains(name) && !alphas.Contains(name)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0 || extra.Count > 0)
            throw new LoraFormatException(file.Path,
                "it does not train the layers the configuration selects" +
                (missing.Count > 0 ? $"; missing {Summary(missing)}" : "") + (extra.Count > 0 ? $"; not selected {Summary(extra)}" : "") +
                ". Use the configuration the LoRA was trained with.");
        using var _ = no_grad();
        foreach (var module in Modules)
        {
            using var scope = NewDisposeScope();
            var a = file.Load(checkpoint ? module.CheckpointA : module.PeftA, ScalarType.Float32);
            var b = file.Load(checkpoint ? module.CheckpointB : module.PeftB, ScalarType.Float32);
            if (!a.shape.SequenceEqual(module.A.shape) || !b.shape.SequenceEqual(module.B.shape))
                throw new LoraFormatException(file.Path,
                    $"'{module.PeftModule}' has A [{string.Join(", ", a.shape)}] and B [{string.Join(", ", b.shape)}], but this model and " +
                    $"configuration need [{string.Join(", ", module.A.shape)}] and [{string.Join(", ", module.B.shape)}].");
            string alphaKey = $"{module.PeftModule}.alpha";
            if (alphas.Contains(alphaKey))
            {
                using var alphaOverRank = (file.Load(alphaKey, ScalarType.Float64).reshape(1)[0].item<double>() / module.Rank).ToScalar();
                b = b.mul(alphaOverRank);
            }
            module.A.copy_(a);
            module.B.copy_(b);
        }
    }

    private static SafetensorsFile OpenLoraFile(string path)
    {
        try
        {
            return SafetensorsFile.Open(path);
        }
        catch (SafetensorsException e)
        {
            throw new LoraFormatException(path, $"not a readable safetensors file ({e.Problem}).");
        }
    }

    private static string Summary(IReadOnlyList<string> names) =>
        names.Count <= 4 ? string.Join(", ", names) : $"{string.Join(", ", names.Take(4))} and {names.Count - 4} more";

    /// <summary>The Python repr of the original app's block settings, which its checkpoints carry as metadata.</summary>
    private static string PythonRepr(string kind, LoraBlocksConfig? blocks)
    {
        if (blocks is null) return "None";
        static string Value(int? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "None";
        var range = blocks.BlockRange;
        string indices = range.IndexList is null ? "None" : $"[{string.Join(", ", range.IndexList)}]";
        string types = $"[{string.Join(", ", blocks.LayerTypes.Select(type => $"'{type}'"))}]";
        return $"{kind}(block_range=BlockRange(start={Value(range.Start)}, end={Value(range.End)}, indices={indices}), " +
               $"layer_types={types}, lora_rank={blocks.LoraRank})";
    }

    private static void DisposeFactors(TrainableLoraModule module)
    {
        module.A.Dispose();
        module.B.Dispose();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var adapter in _adapters) adapter.Layer.Adapters.Remove(adapter);
        _adapters.Clear();
        foreach (var module in Modules) DisposeFactors(module);
    }
}
