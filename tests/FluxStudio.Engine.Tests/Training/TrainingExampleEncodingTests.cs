using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Training;
using SkiaSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Training;

/// <summary>Training examples encoded from the fixture's images and captions: pixels, VAE latents, packing and text embeddings.</summary>
public sealed class TrainingExampleEncodingTests : IDisposable
{
    private readonly TrainingTiny _fixture = TrainingTiny.Open();

    private static RgbImage ReadPng(string path)
    {
        using var bitmap = SKBitmap.Decode(path).Copy(SKColorType.Rgba8888);
        var rgba = bitmap.Bytes;
        var rgb = new byte[bitmap.Width * bitmap.Height * 3];
        for (int i = 0, j = 0; i < rgba.Length; i += 4, j += 3) (rgb[j], rgb[j + 1], rgb[j + 2]) = (rgba[i], rgba[i + 1], rgba[i + 2]);
        return new RgbImage(bitmap.Width, bitmap.Height, rgb);
    }

    [Fact]
    public void TheFixturesImagesAndCaptionsEncodeToItsInputs()
    {
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(_fixture.ModelPath("folder")), ComputeTarget.Cpu, lowMemory: false);
        var pipeline = new FluxPipeline(model);
        var inputs = _fixture.Inputs;
        var captions = _fixture.Run["captions"]!.AsArray();
        Assert.Equal(_fixture.ExampleCount, captions.Count);
        for (int i = 0; i < _fixture.ExampleCount; i++)
        {
            using var scope = NewDisposeScope();
            var image = ReadPng(TrainingTiny.PathOf($"image_{i}.png"));
            Assert.Equal((_fixture.Run["width"]!.GetValue<int>(), _fixture.Run["height"]!.GetValue<int>()), (image.Width, image.Height));
            TensorAssert.Identical(inputs.Load($"ex{i}.pixels"), ImageConversion.FromRgb(image), $"pixels {i}");
            string caption = captions[i]!.GetValue<string>();
            Assert.Equal(inputs.Load($"ex{i}.t5_ids").data<long>().ToArray(), model.Tokenizers.T5.Tokenize(caption, model.Config.T5SequenceLength).Ids);
            Assert.Equal(inputs.Load($"ex{i}.clip_ids").data<long>().ToArray(), model.Tokenizers.Clip.Tokenize(caption).Ids);

            using var example = TrainingExample.Encode(pipeline, image, caption);
            TensorAssert.Close(inputs.Load($"ex{i}.x0"), example.CleanLatent, 1e-5, $"packed latent {i}");
            TensorAssert.Close(inputs.Load($"ex{i}.txt"), example.Text.Features, 3e-4, $"T5 features {i}");
            TensorAssert.Close(inputs.Load($"ex{i}.vec"), example.Text.Pooled, 1e-5, $"pooled CLIP vector {i}");
            Assert.Equal((long)_fixture.Run["tokens"]!.GetValue<int>(), example.TokenCount);
            TensorAssert.Identical(inputs.Load("img_ids"), example.ImageIds, "image ids");
        }
    }

    [Fact]
    public void ReleasingTheEncodersKeepsTheExamplesAndLoadsThemAgainWhenNeeded()
    {
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(_fixture.ModelPath("folder")), ComputeTarget.Cpu, lowMemory: false);
        var pipeline = new FluxPipeline(model);
        var image = ReadPng(TrainingTiny.PathOf("image_0.png"));
        string caption = _fixture.Run["captions"]![0]!.GetValue<string>();
        using var before = TrainingExample.Encode(pipeline, image, caption);
        var vae = model.Vae;

        model.ReleaseEncoders();

        TensorAssert.Close(_fixture.Inputs.Load("ex0.x0"), before.CleanLatent, 1e-5, "packed latent after the release");
        Assert.NotSame(vae, model.Vae);
        using var after = TrainingExample.Encode(pipeline, image, caption);
        TensorAssert.Identical(before.CleanLatent, after.CleanLatent, "packed latent encoded again");
        TensorAssert.Identical(before.Text.Features, after.Text.Features, "T5 features encoded again");
    }

    [Fact]
    public void AnImageNotResizedToTheTrainingSizeIsRefused()
    {
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(_fixture.ModelPath("folder")), ComputeTarget.Cpu, lowMemory: true);
        var pipeline = new FluxPipeline(model);
        var error = Assert.Throws<ArgumentException>(() => TrainingExample.Encode(pipeline, new RgbImage(30, 30, new byte[30 * 30 * 3]), "x"));
        Assert.Contains("resized", error.Message);
    }

    public void Dispose() => _fixture.Dispose();
}
