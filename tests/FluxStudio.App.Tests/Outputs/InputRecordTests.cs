using System.Security.Cryptography;
using System.Text.Json;
using FluxStudio.App.Generation;
using FluxStudio.App.History;
using FluxStudio.App.Outputs;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Pipeline;
using GenerationProgress = FluxStudio.App.Generation.GenerationProgress;

namespace FluxStudio.App.Tests.Outputs;

/// <summary>
/// What is recorded of a generation guided by a ControlNet or started from a picture, in the history row, the JSON
/// sidecar and the PNG's <c>parameters</c>, and the edge map kept with the image.
/// </summary>
public sealed class InputRecordTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();
    private readonly CancellationToken _ct = CancellationToken.None;

    public void Dispose() => _sandbox.Dispose();

    private string Picture(string name)
    {
        var path = Path.Combine(_sandbox.Root, "pictures", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, PngEncoder.Encode(FakeRuns.EdgeMap(8, 8)).Concat(new byte[] { (byte)name.Length }).ToArray());
        return path;
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    private async Task<GenerationOutcome> GenerateAsync(GenerationRequest request, GenerationOutput? output = null) =>
        await _sandbox.CreateGeneration(new FakeImageGenerator())
            .GenerateAsync(request, output ?? new GenerationOutput(), new Progress<GenerationProgress>(), _ct).SingleAsync(_ct);

    [Fact]
    public async Task A_ControlNet_image_is_recorded_by_path_hash_strength_and_encoding_and_its_edge_map_is_kept()
    {
        var reference = Picture("reference.png");
        var outcome = await GenerateAsync(TestRequests.Small() with
        {
            ControlNetImagePath = reference, ControlNetStrength = 0.6, ControlNetEncoding = ControlNetEncoding.Diffusers, Metadata = true,
        });
        var entry = (await _sandbox.History.GetAsync(outcome.Record.Id, _ct))!;

        Assert.Equal((reference, Sha256(reference), 0.6, "diffusers"),
            (entry.ControlNetImagePath, entry.ControlNetImageHash, entry.ControlNetStrength, entry.ControlNetEncoding));
        Assert.Equal(OutputStore.ControlNetCannyPath(entry.ImagePath), entry.ControlNetCannyPath);
        Assert.EndsWith("_controlnet_canny.png", entry.ControlNetCannyPath);
        Assert.Equal(FakeRuns.EdgeMap(entry.Width, entry.Height).Pixels, RgbImageFile.Read(entry.ControlNetCannyPath!).Pixels);

        var sidecar = JsonDocument.Parse(await File.ReadAllBytesAsync(entry.MetadataPath!)).RootElement;
        Assert.Equal(reference, sidecar.GetProperty("controlnet_image_path").GetString());
        Assert.Equal(Sha256(reference), sidecar.GetProperty("controlnet_image_hash").GetString());
        Assert.Equal(0.6, sidecar.GetProperty("controlnet_strength").GetDouble());
        Assert.Equal("diffusers", sidecar.GetProperty("controlnet_encoding").GetString());

        var parameters = PngChunkReader.ReadText(await File.ReadAllBytesAsync(entry.ImagePath))["parameters"];
        Assert.Contains("ControlNet: reference.png, ControlNet strength: 0.6, ControlNet encoding: diffusers, " +
                        $"ControlNet image hash: {Sha256(reference)[..10]}", parameters);
        Assert.Contains("ControlNet encoding: diffusers", HistoryDetails.Format(entry));

        Assert.True((await _sandbox.History.DeleteAsync(entry.Id, _ct)).Deleted);
        Assert.False(File.Exists(entry.ControlNetCannyPath));
        Assert.Empty(Directory.EnumerateFiles(_sandbox.OutputRoot));
    }

    [Fact]
    public async Task A_start_picture_is_recorded_by_path_hash_and_strength_with_A1111s_denoising_strength()
    {
        var start = Picture("start.png");
        var outcome = await GenerateAsync(TestRequests.Small() with { InitImagePath = start, ImageStrength = 0.3, Metadata = true });
        var entry = (await _sandbox.History.GetAsync(outcome.Record.Id, _ct))!;

        Assert.Equal((start, Sha256(start), 0.3), (entry.InitImagePath, entry.InitImageHash, entry.ImageStrength));
        Assert.Null(entry.ControlNetCannyPath);
        var sidecar = JsonDocument.Parse(await File.ReadAllBytesAsync(entry.MetadataPath!)).RootElement;
        Assert.Equal(start, sidecar.GetProperty("image_path").GetString());
        Assert.Equal(0.3, sidecar.GetProperty("image_strength").GetDouble());
        Assert.Equal(Sha256(start), sidecar.GetProperty("image_hash").GetString());
        var parameters = PngChunkReader.ReadText(await File.ReadAllBytesAsync(entry.ImagePath))["parameters"];
        Assert.Contains($"Denoising strength: 0.7, Image strength: 0.3, Init image: start.png, Init image hash: {Sha256(start)[..10]}", parameters);

        var again = HistoryStore.ToRequest(entry);
        Assert.Equal((start, 0.3), (again.InitImagePath, again.ImageStrength));
    }

    [Fact]
    public async Task Strength_zero_ran_as_text_to_image_and_records_no_start_picture()
    {
        var outcome = await GenerateAsync(TestRequests.Small() with { InitImagePath = Picture("start.png"), ImageStrength = 0 });

        Assert.Null(outcome.Record.InitImagePath);
        Assert.Null(outcome.Record.ImageStrength);
        Assert.DoesNotContain("Denoising strength", Infotext.Format(outcome.Record));
    }

    [Fact]
    public async Task The_users_copy_gets_the_edge_map_beside_it_only_when_asked_to_save_it()
    {
        var copy = Path.Combine(_sandbox.Root, "mine", "guided.png");
        var request = TestRequests.Small() with { ControlNetImagePath = Picture("reference.png") };

        var unsaved = await GenerateAsync(request, new GenerationOutput { History = false, CopyTo = copy });
        Assert.Null(unsaved.ControlNetCannyCopyPath);
        Assert.False(File.Exists(Path.Combine(_sandbox.Root, "mine", "guided_controlnet_canny.png")));

        var saved = await GenerateAsync(request with { ControlNetSaveCanny = true }, new GenerationOutput { History = false, CopyTo = copy });
        Assert.Equal(Path.Combine(_sandbox.Root, "mine", "guided_controlnet_canny.png"), saved.ControlNetCannyCopyPath);
        Assert.Equal(FakeRuns.EdgeMap(request.Width, request.Height).Pixels, RgbImageFile.Read(saved.ControlNetCannyCopyPath!).Pixels);
        Assert.True(saved.Record.ControlNetSaveCanny);
    }

    [Theory]
    [InlineData(0.4, 0.6)]
    [InlineData(0.3, 0.7)]
    [InlineData(0.85, 0.15)]
    [InlineData(1.0, 0.0)]
    public void Denoising_strength_is_one_minus_the_image_strength_as_written(double imageStrength, double denoising) =>
        Assert.Equal(denoising.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Infotext.DenoisingStrength(imageStrength).ToString(System.Globalization.CultureInfo.InvariantCulture));
}
