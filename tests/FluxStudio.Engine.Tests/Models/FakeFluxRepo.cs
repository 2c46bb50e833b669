using System.Security.Cryptography;
using System.Text;
using FluxStudio.Engine.Models;

namespace FluxStudio.Engine.Tests.Models;

/// <summary>
/// The file list of a FLUX.1 repository as the Hub has it (diffusers parts, a sharded transformer, the single-file
/// duplicates at the root, a pickle file, git files), with a few kilobytes of seeded random bytes in each weight file.
/// </summary>
internal sealed class FakeFluxRepo
{
    public FakeFluxRepo(string repoId, string commit, int weightBytes = 6000, int seed = 1)
    {
        RepoId = repoId;
        Commit = commit;
        var random = new Random(seed);
        byte[] Weights() { var bytes = new byte[weightBytes]; random.NextBytes(bytes); return bytes; }
        static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

        Files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [".gitattributes"] = Text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n"),
            ["README.md"] = Text("# fake FLUX.1\n"),
            ["flux1-schnell.safetensors"] = Weights(),
            ["ae.safetensors"] = Weights(),
            ["model_index.json"] = Text("""{"_class_name": "FluxPipeline"}"""),
            ["scheduler/scheduler_config.json"] = Text("""{"shift": 1.0}"""),
            ["text_encoder/config.json"] = Text("""{"model_type": "clip_text_model"}"""),
            ["text_encoder/model.safetensors"] = Weights(),
            ["text_encoder/pytorch_model.bin"] = Weights(),
            ["text_encoder_2/config.json"] = Text("""{"model_type": "t5"}"""),
            ["text_encoder_2/model-00001-of-00002.safetensors"] = Weights(),
            ["text_encoder_2/model-00002-of-00002.safetensors"] = Weights(),
            ["text_encoder_2/model.safetensors.index.json"] = Text(
                """{"metadata": {}, "weight_map": {"shared.weight": "model-00001-of-00002.safetensors", "encoder.final_layer_norm.weight": "model-00002-of-00002.safetensors"}}"""),
            ["tokenizer/merges.txt"] = Text("#version: 0.2\n"),
            ["tokenizer/vocab.json"] = Text("""{"a": 0}"""),
            ["tokenizer/special_tokens_map.json"] = Text("{}"),
            ["tokenizer_2/spiece.model"] = Weights(),
            ["tokenizer_2/tokenizer.json"] = Text("{}"),
            ["transformer/config.json"] = Text("""{"guidance_embeds": false}"""),
            ["transformer/diffusion_pytorch_model-00001-of-00002.safetensors"] = Weights(),
            ["transformer/diffusion_pytorch_model-00002-of-00002.safetensors"] = Weights(),
            ["transformer/diffusion_pytorch_model.safetensors.index.json"] = Text(
                """{"metadata": {}, "weight_map": {"x_embedder.weight": "diffusion_pytorch_model-00001-of-00002.safetensors", "proj_out.weight": "diffusion_pytorch_model-00002-of-00002.safetensors"}}"""),
            ["vae/config.json"] = Text("""{"latent_channels": 16}"""),
            ["vae/diffusion_pytorch_model.safetensors"] = Weights(),
        };
    }

    public string RepoId { get; }

    public string Commit { get; }

    public SortedDictionary<string, byte[]> Files { get; }

    /// <summary>The files a FLUX download must fetch: the diffusers parts, no root duplicates, no pickles.</summary>
    public IEnumerable<string> PipelineFiles => Files.Keys.Where(FluxDownloadSelection.Full.Includes);

    /// <summary>Large (LFS) files are named by their SHA-256 on the Hub; the others by their git blob id.</summary>
    public static bool IsLfs(string path) =>
        path.EndsWith(".safetensors", StringComparison.Ordinal) || path.EndsWith(".model", StringComparison.Ordinal)
        || path.EndsWith(".onnx", StringComparison.Ordinal);

    public static string BlobId(string path, byte[] content) => IsLfs(path)
        ? Convert.ToHexStringLower(SHA256.HashData(content))
        : Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {content.Length}\0"), .. content]));

    /// <summary>
    /// Writes the repository into a Hugging Face cache as huggingface_hub does: blobs, relative links in the snapshot,
    /// and optionally <c>refs/main</c>. Returns the snapshot folder.
    /// </summary>
    public string WriteToCache(string cacheDirectory, IEnumerable<string>? only = null, bool writeRef = true, string? commit = null)
    {
        commit ??= Commit;
        var repoFolder = Path.Combine(cacheDirectory, "models--" + RepoId.Replace("/", "--"));
        var snapshot = Path.Combine(repoFolder, "snapshots", commit);
        foreach (var path in only ?? PipelineFiles)
        {
            var content = Files[path];
            var blob = Path.Combine(repoFolder, "blobs", BlobId(path, content));
            Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
            File.WriteAllBytes(blob, content);
            var pointer = Path.Combine(snapshot, path);
            Directory.CreateDirectory(Path.GetDirectoryName(pointer)!);
            File.CreateSymbolicLink(pointer, Path.GetRelativePath(Path.GetDirectoryName(pointer)!, blob));
        }
        if (writeRef)
        {
            Directory.CreateDirectory(Path.Combine(repoFolder, "refs"));
            File.WriteAllText(Path.Combine(repoFolder, "refs", "main"), commit);
        }
        return snapshot;
    }
}
