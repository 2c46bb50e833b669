using FluxStudio.App.Inputs;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.App.Tests.Inputs;

public sealed class ControlNetPreviewTests
{
    [Fact]
    public void The_preview_is_exactly_the_edge_map_the_ControlNet_is_given()
    {
        var png = ControlNetPreview.EdgesPng(RgbImageFile.Read(ControlNetFixture.ControlImage), ControlNetFixture.Width, ControlNetFixture.Height);

        Assert.Equal(RgbImageFile.Read(ControlNetFixture.ControlCannyRgb).Pixels, RgbImageFile.Decode(png).Pixels);
    }

    [Fact]
    public void The_preview_follows_the_chosen_size()
    {
        var edges = RgbImageFile.Decode(ControlNetPreview.EdgesPng(RgbImageFile.Read(ControlNetFixture.ControlImage), 64, 40));

        Assert.Equal((64, 40), (edges.Width, edges.Height));
        Assert.All(edges.Pixels, value => Assert.True(value is 0 or 255));
    }

    [Theory]
    [InlineData(0, 32, "width")]
    [InlineData(48, 5000, "height")]
    public void A_size_out_of_range_is_refused_with_a_sentence(int width, int height, string side)
    {
        var error = Assert.Throws<ArgumentException>(() => ControlNetPreview.EdgesPng(RgbImageFile.Read(ControlNetFixture.ControlImage), width, height));
        Assert.Contains(side, error.Message);
        Assert.Contains("4096", error.Message);
    }
}
