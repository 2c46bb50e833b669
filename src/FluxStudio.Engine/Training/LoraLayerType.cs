namespace FluxStudio.Engine.Training;

/// <summary>
/// A layer of a transformer block by the original app's name, with the module name diffusers (and so PEFT LoRA files)
/// give it and the one the original app's checkpoints store it under. The two differ only for the joint blocks'
/// output projection (a list in both: <c>attn.to_out.0</c>) and feed-forward layers (<c>ff.linear1</c> is diffusers'
/// <c>ff.net.0.proj</c>).
/// </summary>
public sealed record LoraLayerType(string Name, string DiffusersModule, string CheckpointModule)
{
    public static IReadOnlyDictionary<string, LoraLayerType> Joint { get; } = Table(
        Same("attn.to_q"), Same("attn.to_k"), Same("attn.to_v"),
        Same("attn.add_q_proj"), Same("attn.add_k_proj"), Same("attn.add_v_proj"),
        new("attn.to_out", "attn.to_out.0", "attn.to_out.0"), Same("attn.to_add_out"),
        new("ff.linear1", "ff.net.0.proj", "ff.linear1"), new("ff.linear2", "ff.net.2", "ff.linear2"),
        new("ff_context.linear1", "ff_context.net.0.proj", "ff_context.linear1"),
        new("ff_context.linear2", "ff_context.net.2", "ff_context.linear2"),
        Same("norm1.linear"), Same("norm1_context.linear"));

    public static IReadOnlyDictionary<string, LoraLayerType> Single { get; } = Table(
        Same("attn.to_q"), Same("attn.to_k"), Same("attn.to_v"), Same("proj_mlp"), Same("proj_out"), Same("norm.linear"));

    private static LoraLayerType Same(string name) => new(name, name, name);

    private static Dictionary<string, LoraLayerType> Table(params LoraLayerType[] types) =>
        types.ToDictionary(type => type.Name, StringComparer.Ordinal);
}
