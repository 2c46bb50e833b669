using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Engine.Tests.ControlNet;

/// <summary>The Canny control images of tests/Fixtures/controlnet-tiny, made as mflux makes them (OpenCV's cv2.Canny).</summary>
public sealed class CannyControlImageTests
{
    [Theory]
    [MemberData(nameof(ControlNetTiny.Images), MemberType = typeof(ControlNetTiny))]
    public void EdgesEqualTheReferenceBitForBit(string image)
    {
        var picture = RgbImageFile.Read(ControlNetTiny.ImagePath(image));
        var expectedSize = ControlNetTiny.Manifest.GetProperty("images").GetProperty(image);
        Assert.Equal((expectedSize.GetProperty("width").GetInt32(), expectedSize.GetProperty("height").GetInt32()), (picture.Width, picture.Height));

        var edges = CannyControlImage.Edges(picture);
        var references = ControlNetTiny.CannyPaths(image).ToList();
        Assert.NotEmpty(references);
        foreach (var reference in references)
            Assert.True(RgbImageFile.Read(reference).Pixels.SequenceEqual(edges.Pixels), $"the edges of {image} differ from {reference}");
        Assert.Contains(edges.Pixels, value => value == 255);
        Assert.All(edges.Pixels, value => Assert.True(value is 0 or 255));
    }

    [Fact]
    public void TheRunsControlImageGivesTheEncodedEdgeArray()
    {
        var run = ControlNetTiny.RunParameters;
        var edges = CannyControlImage.Prepare(RgbImageFile.Read(ControlNetTiny.RunControlImage()), run.Width, run.Height);
        using var encoding = ControlNetTiny.Open("control_encoding.safetensors");
        Assert.Equal(encoding.Load("control_canny_uint8").data<byte>().ToArray(), edges.Pixels);
    }

    [Theory]
    [MemberData(nameof(ControlNetTiny.Images), MemberType = typeof(ControlNetTiny))]
    public void PreparingAtTheImagesOwnSizeDoesNotResample(string image)
    {
        var picture = RgbImageFile.Read(ControlNetTiny.ImagePath(image));
        Assert.Equal(CannyControlImage.Edges(picture).Pixels, CannyControlImage.Prepare(picture, picture.Width, picture.Height).Pixels);
    }

    [Fact]
    public void AnotherSizeIsResampledToTheOutputSize()
    {
        var run = ControlNetTiny.RunParameters;
        var large = RgbImageFile.Read(ControlNetTiny.ImagePath(ControlNetTiny.ImageNames
            .First(name => ControlNetTiny.ImagePath(name) != ControlNetTiny.RunControlImage())));
        var edges = CannyControlImage.Prepare(large, run.Width, run.Height);
        Assert.Equal((run.Width, run.Height), (edges.Width, edges.Height));
    }

    [Fact]
    public void LanczosKeepsAFlatImageFlatAndStretchesAGradientMonotonically()
    {
        var flat = new RgbImage(7, 5, Enumerable.Repeat((byte)173, 7 * 5 * 3).ToArray());
        Assert.All(LanczosResize.Resize(flat, 19, 3).Pixels, value => Assert.Equal(173, value));

        var ramp = new RgbImage(64, 1, Enumerable.Range(0, 64).SelectMany(x => Enumerable.Repeat((byte)(x * 4), 3)).ToArray());
        var wider = LanczosResize.Resize(ramp, 128, 1);
        var red = Enumerable.Range(0, 128).Select(x => (int)wider[0, x, 0]).ToArray();
        Assert.True(red.Skip(4).SkipLast(4).Zip(red.Skip(5).SkipLast(3)).All(pair => pair.First <= pair.Second), string.Join(",", red));
    }

    [Fact]
    public void SomethingThatIsNotAPictureIsRefusedWithAMessage()
    {
        var error = Assert.Throws<InvalidDataException>(() => RgbImageFile.Decode("not an image"u8.ToArray()));
        Assert.Contains("PNG", error.Message);
    }
}
