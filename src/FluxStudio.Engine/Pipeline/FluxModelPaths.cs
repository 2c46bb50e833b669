namespace FluxStudio.Engine.Pipeline;

/// <summary>Where each part of a FLUX.1 model lives: folders in the diffusers layout, or single files.</summary>
public sealed record FluxModelPaths(
    string Transformer,
    string TextEncoder,
    string TextEncoder2,
    string Tokenizer,
    string Tokenizer2,
    string Vae,
    string? TransformerParams = null)
{
    /// <summary>The parts of a diffusers FluxPipeline folder (model_index.json, transformer/, vae/, …).</summary>
    public static FluxModelPaths FromDiffusersFolder(string folder) => new(
        Path.Combine(folder, "transformer"),
        Path.Combine(folder, "text_encoder"),
        Path.Combine(folder, "text_encoder_2"),
        Path.Combine(folder, "tokenizer"),
        Path.Combine(folder, "tokenizer_2"),
        Path.Combine(folder, "vae"));
}
