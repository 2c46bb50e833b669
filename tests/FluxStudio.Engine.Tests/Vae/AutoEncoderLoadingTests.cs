using FluxStudio.Engine.Vae;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Vae;

public sealed class AutoEncoderLoadingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fluxstudio-vae-load-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A copy of a fixture checkpoint with some tensors dropped, replaced or added.</summary>
    private string EditedCopy(string source, string fileName, Action<Dictionary<string, Tensor>> edit) =>
        EditedCheckpoint.Write(source, Path.Combine(_dir, fileName), edit);

    private string EditedBfl(Action<Dictionary<string, Tensor>> edit) => EditedCopy(VaeGoldens.BflFile, "ae.safetensors", edit);

    private string EditedDiffusersFolder(Action<Dictionary<string, Tensor>> edit)
    {
        EditedCopy(Path.Combine(VaeGoldens.DiffusersFolder, "diffusion_pytorch_model.safetensors"),
            "diffusion_pytorch_model.safetensors", edit);
        File.Copy(Path.Combine(VaeGoldens.DiffusersFolder, "config.json"), Path.Combine(_dir, "config.json"));
        return _dir;
    }

    [Fact]
    public void AMissingTensorIsNamed()
    {
        var path = EditedBfl(tensors => tensors.Remove("decoder.up.0.block.1.conv2.weight"));
        var error = Assert.Throws<WeightLoadException>(() => AutoEncoder.Load(path));
        Assert.Equal(["decoder.up.0.block.1.conv2.weight"], error.Missing);
        Assert.Empty(error.Unexpected);
        Assert.Contains("1 missing tensor(s): decoder.up.0.block.1.conv2.weight", error.Message);
    }

    [Fact]
    public void AnUnexpectedTensorIsNamed()
    {
        var path = EditedBfl(tensors => tensors["decoder.mid.attn_2.q.weight"] = zeros(64, 64, 1, 1));
        var error = Assert.Throws<WeightLoadException>(() => AutoEncoder.Load(path));
        Assert.Equal(["decoder.mid.attn_2.q.weight"], error.Unexpected);
        Assert.Empty(error.Missing);
    }

    [Fact]
    public void AWronglyShapedTensorIsNamedWithBothShapes()
    {
        var path = EditedBfl(tensors => tensors["encoder.mid.attn_1.v.weight"] = zeros(64, 64, 3, 3));
        var error = Assert.Throws<WeightLoadException>(() => AutoEncoder.Load(path));
        var wrong = Assert.Single(error.WrongShape);
        Assert.Equal("encoder.mid.attn_1.v.weight [64, 64, 3, 3] (model expects [64, 64, 1, 1])", wrong);
    }

    [Fact]
    public void DiffusersProblemsAreNamedInDiffusersTerms()
    {
        var folder = EditedDiffusersFolder(tensors =>
        {
            tensors.Remove("decoder.up_blocks.1.resnets.1.conv2.weight");
            tensors["encoder.mid_block.attentions.0.to_q.weight"] = zeros(64, 32);
            tensors["quant_conv.weight"] = zeros(8, 8, 1, 1);
        });
        var error = Assert.Throws<WeightLoadException>(() => AutoEncoder.Load(folder));
        Assert.Equal(["decoder.up_blocks.1.resnets.1.conv2.weight (BFL decoder.up.0.block.1.conv2.weight)"], error.Missing);
        Assert.Equal(["quant_conv.weight"], error.Unexpected);
        Assert.Equal(
            ["encoder.mid_block.attentions.0.to_q.weight (BFL encoder.mid.attn_1.q.weight) [64, 32, 1, 1] (model expects [64, 64, 1, 1])"],
            error.WrongShape);
        Assert.Contains("diffusers layout", error.Message);
    }

    [Fact]
    public void AConfigThatDisagreesWithTheWeightsIsReportedAsWrongShapes()
    {
        File.Copy(VaeGoldens.BflFile, Path.Combine(_dir, "ae.safetensors"));
        File.WriteAllText(Path.Combine(_dir, "config.json"), """{"ch": 32, "ch_mult": [1, 2], "num_res_blocks": 1, "z_channels": 8}""");
        var error = Assert.Throws<WeightLoadException>(() => AutoEncoder.Load(_dir));
        Assert.Contains(error.WrongShape, entry => entry.StartsWith("decoder.conv_in.weight [64, 4, 3, 3]", StringComparison.Ordinal));
        Assert.Contains(error.WrongShape, entry => entry.StartsWith("encoder.conv_out.weight [8, 64, 3, 3]", StringComparison.Ordinal));
    }

    [Fact]
    public void AModelFolderWithAVaeSubfolderLoadsTheSubfolder()
    {
        var vae = Directory.CreateDirectory(Path.Combine(_dir, "vae")).FullName;
        foreach (var file in Directory.GetFiles(VaeGoldens.DiffusersFolder))
            File.Copy(file, Path.Combine(vae, Path.GetFileName(file)));
        File.WriteAllText(Path.Combine(vae, "config.json"),
            File.ReadAllText(Path.Combine(vae, "config.json")).Replace("0.3611", "0.5", StringComparison.Ordinal));

        using var model = AutoEncoder.Load(_dir);

        Assert.Equal(0.5, model.Config.ScaleFactor);
        Assert.Equal([1, 2], model.Config.ChannelMultipliers);
    }

    [Fact]
    public void ATransformerIsNotLoadedAsAVae()
    {
        var error = Assert.Throws<InvalidDataException>(
            () => AutoEncoder.Load(Fixtures.Path("flux-tiny", "transformer_bfl", "flux1-tiny.safetensors")));
        Assert.Contains("is not a FLUX.1 VAE", error.Message);
    }

    [Fact]
    public void AMissingPathSaysWhatToGive()
    {
        var error = Assert.Throws<FileNotFoundException>(() => AutoEncoder.Load(Path.Combine(_dir, "nowhere")));
        Assert.Contains("ae.safetensors", error.Message);
    }

    [Fact]
    public void APickledCheckpointIsRefused()
    {
        var path = Path.Combine(_dir, "ae.ckpt");
        File.WriteAllBytes(path, [0x80, 0x02]);
        var error = Assert.Throws<NotSupportedException>(() => AutoEncoder.Load(path));
        Assert.Contains("safetensors", error.Message);
    }

    [Fact]
    public void AnImageWithTheWrongChannelCountIsRefused()
    {
        using var model = AutoEncoder.Load(VaeGoldens.BflFile);
        using var gray = zeros(1, 1, 16, 16);
        var error = Assert.Throws<ArgumentException>(() => model.Encode(gray));
        Assert.Contains("[batch, 3, height, width]", error.Message);
        using var image = zeros(1, 3, 16, 16);
        Assert.Throws<ArgumentException>(() => model.Decode(image));
    }
}
