using FluxStudio.App.Generation;
using FluxStudio.App.Outputs;
using FluxStudio.App.Tests.Support;

namespace FluxStudio.App.Tests.Outputs;

public sealed class InfotextTests
{
    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a, b", "\"a, b\"")]
    [InlineData("key: value", "\"key: value\"")]
    [InlineData("say \"hi\", ok", "\"say \\\"hi\\\", ok\"")]
    public void Values_with_separators_are_quoted_as_A1111_does(string value, string expected) =>
        Assert.Equal(expected, Infotext.Quote(value));

    [Fact]
    public void Schnell_has_no_distilled_guidance_and_LoRAs_are_listed_with_their_scales()
    {
        var request = TestRequests.Small("paper cut, a red fox") with
        {
            Loras = [new LoraSelection("/loras/paper-cut.safetensors", 0.75), new LoraSelection("/loras/ink.safetensors", 1)],
        };
        var record = GenerationRecord.Describe(request, FakeImageGenerator.Render(request, "cpu").Run, DateTimeOffset.UnixEpoch);

        var text = Infotext.Format(record);

        var lines = text.Split('\n');
        Assert.Equal("paper cut, a red fox", lines[0]);
        Assert.DoesNotContain("Distilled CFG Scale", text);
        Assert.Contains("LoRA: \"paper-cut: 0.75, ink: 1\"", lines[1]);
        Assert.Contains("Model: flux1-schnell", lines[1]);
        Assert.Contains("Device: cpu, Precision: bfloat16, Generation time: 1.25s", lines[1]);
    }
}
