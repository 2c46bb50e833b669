using FluxStudio.Engine.Models;

namespace FluxStudio.Engine.Tests.Models;

public sealed class ModelLocatorTests : IDisposable
{
    private const string SchnellCommit = "741f7c3ce8b383c54771c7003378a50191e9efe9";
    private readonly string _root = Directory.CreateTempSubdirectory("fluxstudio-locator-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private ModelLocator Locator(Dictionary<string, string> env, ModelHubOptions? options = null)
    {
        env.TryAdd("HOME", Path.Combine(_root, "home"));
        return new ModelLocator(HubSettings.Resolve(options ?? new ModelHubOptions(), name => env.GetValueOrDefault(name)));
    }

    private static FakeFluxRepo Schnell(string commit = SchnellCommit) => new("black-forest-labs/FLUX.1-schnell", commit);

    [Fact]
    public void FindsASnapshotThatRefsMainNamesInTheHfHomeCache()
    {
        var cache = Path.Combine(_root, "hf", "hub");
        var snapshot = Schnell().WriteToCache(cache);

        var location = Locator(new() { ["HF_HOME"] = Path.Combine(_root, "hf") }).Locate(null, "schnell");

        Assert.Equal(Path.Combine(snapshot, "transformer"), location.TransformerPath);
        Assert.Equal(Path.Combine(snapshot, "text_encoder"), location.TextEncoderPath);
        Assert.Equal(Path.Combine(snapshot, "text_encoder_2"), location.TextEncoder2Path);
        Assert.Equal(Path.Combine(snapshot, "tokenizer"), location.TokenizerPath);
        Assert.Equal(Path.Combine(snapshot, "tokenizer_2"), location.Tokenizer2Path);
        Assert.Equal(Path.Combine(snapshot, "vae"), location.VaePath);
        Assert.Equal(Path.Combine(snapshot, "scheduler"), location.SchedulerPath);
        Assert.Equal(FluxVariant.Schnell, location.Variant);
        Assert.Equal("black-forest-labs/FLUX.1-schnell", location.RepoId);
        Assert.Contains(SchnellCommit, location.Origin);
        Assert.Contains("HF_HOME", location.Origin);
        // The snapshot's files are links into blobs/, and reading through them gives the content.
        var index = Path.Combine(location.TransformerPath, "diffusion_pytorch_model.safetensors.index.json");
        Assert.NotNull(new FileInfo(index).LinkTarget);
        Assert.Equal(Schnell().Files["transformer/diffusion_pytorch_model.safetensors.index.json"], File.ReadAllBytes(index));
    }

    [Fact]
    public void HfHubCacheTakesPrecedenceOverHfHome()
    {
        var fromHubCache = Schnell().WriteToCache(Path.Combine(_root, "hub-cache"));
        Schnell("1111111111111111111111111111111111111111").WriteToCache(Path.Combine(_root, "hf", "hub"));

        var location = Locator(new()
        {
            ["HF_HUB_CACHE"] = Path.Combine(_root, "hub-cache"),
            ["HF_HOME"] = Path.Combine(_root, "hf"),
        }).Locate(null, "schnell");

        Assert.Equal(Path.Combine(fromHubCache, "vae"), location.VaePath);
        Assert.Contains("HF_HUB_CACHE", location.Origin);
    }

    [Fact]
    public void SkipsAnIncompleteSnapshotAndAcceptsAnotherCompleteOne()
    {
        var cache = Path.Combine(_root, "hub");
        var repo = Schnell();
        var complete = repo.WriteToCache(cache, writeRef: false, commit: "2222222222222222222222222222222222222222");
        // refs/main names a snapshot whose second transformer shard never arrived.
        repo.WriteToCache(cache, repo.PipelineFiles.Where(f => !f.EndsWith("00002-of-00002.safetensors", StringComparison.Ordinal) || f.StartsWith("text", StringComparison.Ordinal)));

        var location = Locator(new() { ["HF_HUB_CACHE"] = cache }).Locate(null, "schnell");

        Assert.Equal(Path.Combine(complete, "transformer"), location.TransformerPath);
    }

    [Fact]
    public void ALinkWhoseBlobIsGoneCountsAsMissing()
    {
        var cache = Path.Combine(_root, "hub");
        var repo = Schnell();
        var snapshot = repo.WriteToCache(cache);
        File.Delete(new FileInfo(Path.Combine(snapshot, "tokenizer_2", "spiece.model")).ResolveLinkTarget(true)!.FullName);

        var error = Assert.Throws<ModelNotFoundException>(() => Locator(new() { ["HF_HUB_CACHE"] = cache }).Locate(null, "schnell"));

        Assert.Contains("tokenizer_2: no spiece.model", error.Message);
        Assert.Contains(SchnellCommit, error.Message);
    }

    [Fact]
    public void AMissingModelSaysWhereItLookedAndHowToGetIt()
    {
        var modelsRoot = Path.Combine(_root, "models");
        Directory.CreateDirectory(modelsRoot);
        var locator = Locator(new() { ["HF_HUB_CACHE"] = Path.Combine(_root, "empty-cache") }, new ModelHubOptions { ModelsRoot = modelsRoot });

        var schnell = Assert.Throws<ModelNotFoundException>(() => locator.Locate(null, "schnell"));
        Assert.Contains(Path.Combine(modelsRoot, "FLUX.1-schnell"), schnell.Message);
        Assert.Contains(Path.Combine(_root, "empty-cache"), schnell.Message);
        Assert.Contains("HF_HUB_CACHE", schnell.Message);
        Assert.Contains("models--black-forest-labs--FLUX.1-schnell", schnell.Message);
        Assert.Contains("fluxstudio download --model schnell", schnell.Message);
        Assert.Contains("--path", schnell.Message);
        Assert.DoesNotContain("HF_TOKEN", schnell.Message);
        Assert.True(schnell.SearchedPlaces.Count >= 2);

        var dev = Assert.Throws<ModelNotFoundException>(() => locator.Locate(null, "dev"));
        Assert.Contains("fluxstudio download --model dev", dev.Message);
        Assert.Contains("licence", dev.Message);
        Assert.Contains("HF_TOKEN", dev.Message);
        Assert.Contains("https://huggingface.co/black-forest-labs/FLUX.1-dev", dev.Message);
    }

    [Fact]
    public void FindsAPlainFolderUnderTheModelsRoot()
    {
        var folder = Path.Combine(_root, "models", "FLUX.1-dev");
        var repo = new FakeFluxRepo("black-forest-labs/FLUX.1-dev", SchnellCommit);
        foreach (var file in repo.PipelineFiles)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(folder, file))!);
            File.WriteAllBytes(Path.Combine(folder, file), repo.Files[file]);
        }

        var location = Locator(new() { ["HF_HUB_CACHE"] = Path.Combine(_root, "empty") }, new ModelHubOptions { ModelsRoot = Path.Combine(_root, "models") })
            .Locate(null, "dev");

        Assert.Equal(Path.Combine(folder, "transformer"), location.TransformerPath);
        Assert.Equal(FluxVariant.Dev, location.Variant);
    }

    [Fact]
    public void AcceptsTheFixtureDiffusersFolder()
    {
        var folder = Fixtures.Path("pipeline-tiny", "model");
        var location = Locator(new()).Locate(folder, "schnell");

        Assert.Equal(Path.Combine(folder, "transformer"), location.TransformerPath);
        Assert.Equal(Path.Combine(folder, "tokenizer_2"), location.Tokenizer2Path);
        Assert.Equal(Path.Combine(folder, "vae"), location.VaePath);
        Assert.Null(location.Variant); // a folder does not say; its transformer config does
        Assert.False(location.IsSingleFileTransformer);
        Assert.Equal(location, ModelLocator.FromDiffusersFolder(folder));
    }

    [Fact]
    public void AnIncompleteFolderNamesEveryMissingPart()
    {
        var folder = CopyFixtureModel();
        Directory.Delete(Path.Combine(folder, "tokenizer_2"), recursive: true);
        File.Delete(Path.Combine(folder, "vae", "diffusion_pytorch_model.safetensors"));
        File.WriteAllBytes(Path.Combine(folder, "vae", "diffusion_pytorch_model.bin"), [1, 2, 3]);

        var error = Assert.Throws<IncompleteModelException>(() => Locator(new()).Locate(folder, "schnell"));

        Assert.Equal(["tokenizer_2", "vae"], error.MissingParts.Select(p => p.Part));
        Assert.Contains("tokenizer_2: the folder is missing", error.Message);
        Assert.Contains("only pickled weights (diffusion_pytorch_model.bin)", error.Message);
        Assert.Contains(folder, error.Message);
    }

    [Fact]
    public void ASingleFileTransformerTakesTheOtherPartsFromAFolder()
    {
        var file = Path.Combine(_root, "my-flux.safetensors");
        File.Copy(Fixtures.Path("pipeline-tiny", "flux1-tiny.safetensors"), file);
        File.WriteAllText(Path.Combine(_root, "my-flux.json"), "{}");
        var parts = Fixtures.Path("pipeline-tiny", "model");

        var location = Locator(new()).Locate(file, "dev", partsFolder: parts);

        Assert.Equal(file, location.TransformerPath);
        Assert.True(location.IsSingleFileTransformer);
        Assert.Equal(Path.Combine(_root, "my-flux.json"), location.TransformerParamsJson);
        Assert.Equal(Path.Combine(parts, "text_encoder_2"), location.TextEncoder2Path);
        Assert.Equal(Path.Combine(parts, "vae"), location.VaePath);
    }

    [Fact]
    public void BflSingleFilesTakeTheVaeFromAeSafetensorsBesideTheTransformer()
    {
        File.Copy(Fixtures.Path("pipeline-tiny", "flux1-tiny.safetensors"), Path.Combine(_root, "flux1-dev.safetensors"));
        File.Copy(Fixtures.Path("pipeline-tiny", "ae.safetensors"), Path.Combine(_root, "ae.safetensors"));
        var parts = CopyFixtureModel();
        Directory.Delete(Path.Combine(parts, "vae"), recursive: true);
        Directory.Delete(Path.Combine(parts, "transformer"), recursive: true);

        var location = Locator(new()).Locate(Path.Combine(_root, "flux1-dev.safetensors"), "dev", partsFolder: parts);

        Assert.Equal(Path.Combine(_root, "ae.safetensors"), location.VaePath);
        Assert.Equal(Path.Combine(parts, "text_encoder"), location.TextEncoderPath);

        // Without ae.safetensors the folder must bring vae/, and the message says so.
        File.Delete(Path.Combine(_root, "ae.safetensors"));
        var error = Assert.Throws<IncompleteModelException>(() => Locator(new()).Locate(Path.Combine(_root, "flux1-dev.safetensors"), "dev", partsFolder: parts));
        Assert.Equal("vae", Assert.Single(error.MissingParts).Part);
    }

    [Fact]
    public void ASingleFileTransformerTakesTheOtherPartsFromTheCachedRepoEvenWithoutItsTransformer()
    {
        var cache = Path.Combine(_root, "hub");
        var repo = Schnell();
        var snapshot = repo.WriteToCache(cache, repo.PipelineFiles.Where(f => !f.StartsWith("transformer/", StringComparison.Ordinal)));
        var file = Path.Combine(_root, "flux1-schnell.safetensors");
        File.WriteAllBytes(file, repo.Files["flux1-schnell.safetensors"]);
        var locator = Locator(new() { ["HF_HUB_CACHE"] = cache });

        var location = locator.Locate(file, "schnell");

        Assert.Equal(file, location.TransformerPath);
        Assert.Null(location.TransformerParamsJson);
        Assert.Equal(Path.Combine(snapshot, "text_encoder"), location.TextEncoderPath);
        Assert.Equal(FluxVariant.Schnell, location.Variant);
        // The same snapshot is not a whole model.
        Assert.Throws<ModelNotFoundException>(() => locator.Locate(null, "schnell"));
    }

    [Fact]
    public void ASingleFileWithoutItsOtherPartsSaysWhatIsMissing()
    {
        var file = Path.Combine(_root, "flux1-schnell.safetensors");
        File.WriteAllBytes(file, [1, 2, 3]);

        var error = Assert.Throws<ModelNotFoundException>(
            () => Locator(new() { ["HF_HUB_CACHE"] = Path.Combine(_root, "empty") }).Locate(file, "schnell"));

        Assert.StartsWith($"The text encoders, tokenizers and VAE to go with {file}", error.Message);
        Assert.Contains("models--black-forest-labs--FLUX.1-schnell", error.Message);
        Assert.Contains(_root + " (next to the transformer)", error.Message);
        Assert.Contains("fluxstudio download --model schnell", error.Message);
    }

    [Fact]
    public void RefusesPickledCheckpointsAndExplainsAMissingPath()
    {
        var ckpt = Path.Combine(_root, "flux.ckpt");
        File.WriteAllBytes(ckpt, [0x80, 0x02]);
        var locator = Locator(new());

        var pickle = Assert.Throws<ModelNotFoundException>(() => locator.Locate(ckpt, "schnell"));
        Assert.Contains("never loaded", pickle.Message);

        var missing = Assert.Throws<ModelNotFoundException>(() => locator.Locate(Path.Combine(_root, "nope"), "schnell"));
        Assert.Contains(Path.Combine(_root, "nope") + ": does not exist", missing.Message);

        var unrelated = Directory.CreateDirectory(Path.Combine(_root, "photos")).FullName;
        var notAModel = Assert.Throws<IncompleteModelException>(() => locator.Locate(unrelated, "schnell"));
        Assert.Contains($"{unrelated} is not a FLUX.1 model folder", notAModel.Message);
        Assert.Equal(6, notAModel.MissingParts.Count);

        var alias = Assert.Throws<ArgumentException>(() => locator.Locate(null, "flux-pro"));
        Assert.Contains("schnell, dev", alias.Message);
    }

    [Fact]
    public void AcceptsACacheRepoFolderAsPath()
    {
        var repo = new FakeFluxRepo("black-forest-labs/FLUX.1-dev", SchnellCommit);
        var snapshot = repo.WriteToCache(Path.Combine(_root, "hub"));

        var location = Locator(new()).Locate(Path.Combine(_root, "hub", "models--black-forest-labs--FLUX.1-dev"), "schnell");

        Assert.Equal(Path.Combine(snapshot, "transformer"), location.TransformerPath);
        Assert.Equal(FluxVariant.Dev, location.Variant);
    }

    private string CopyFixtureModel()
    {
        var source = Fixtures.Path("pipeline-tiny", "model");
        var target = Path.Combine(_root, "model-copy");
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var destination = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }
        return target;
    }
}
