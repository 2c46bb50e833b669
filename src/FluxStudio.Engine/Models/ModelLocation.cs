namespace FluxStudio.Engine.Models;

/// <summary>
/// Where each part of a FLUX.1 model is on disk. Weight paths are folders (diffusers layout, possibly sharded) or single
/// <c>.safetensors</c> files; <c>TensorSources.Open</c> accepts either.
/// </summary>
/// <param name="TransformerPath">The transformer folder (with config.json) or a single-file (BFL-named) checkpoint.</param>
/// <param name="TextEncoderPath">The CLIP text encoder folder.</param>
/// <param name="TextEncoder2Path">The T5 encoder folder.</param>
/// <param name="TokenizerPath">The CLIP tokenizer folder (vocab.json, merges.txt).</param>
/// <param name="Tokenizer2Path">The T5 tokenizer folder (spiece.model).</param>
/// <param name="VaePath">The VAE folder or a single-file (BFL-named) autoencoder.</param>
/// <param name="SchedulerPath">The scheduler folder when the model has one.</param>
/// <param name="TransformerParamsJson">For a single-file transformer: a JSON file of its BFL parameters, when one sits beside it.</param>
/// <param name="Origin">Where the model was found, in words, for messages.</param>
/// <param name="Variant">schnell or dev when known from the repository id.</param>
/// <param name="RepoId">The Hub repository the parts came from, when they came from the cache or a download.</param>
public sealed record ModelLocation(
    string TransformerPath,
    string TextEncoderPath,
    string TextEncoder2Path,
    string TokenizerPath,
    string Tokenizer2Path,
    string VaePath,
    string? SchedulerPath,
    string? TransformerParamsJson,
    string Origin,
    FluxVariant? Variant,
    string? RepoId)
{
    /// <summary>True when the transformer is a single file rather than a diffusers folder.</summary>
    public bool IsSingleFileTransformer => File.Exists(TransformerPath) && !Directory.Exists(TransformerPath);
}
