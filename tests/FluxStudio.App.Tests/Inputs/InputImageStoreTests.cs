using FluxStudio.App.Inputs;
using FluxStudio.App.Outputs;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Pipeline;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Tests.Inputs;

public sealed class InputImageStoreTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();
    private readonly InputImageStore _store;
    private readonly CancellationToken _ct = CancellationToken.None;

    public InputImageStoreTests() => _store = new InputImageStore(Options.Create(_sandbox.Options), _sandbox.Time);

    public void Dispose() => _sandbox.Dispose();

    private static byte[] Png(int width = 12, int height = 8) => PngEncoder.Encode(FakeRuns.EdgeMap(width, height));

    [Fact]
    public async Task A_picture_is_kept_under_its_hash_in_the_upload_folder_once()
    {
        var bytes = Png();
        var first = await _store.SaveAsync(bytes, "image/png", _ct);
        var second = await _store.SaveAsync(bytes, "image/png", _ct);

        Assert.Equal(Path.Combine(_sandbox.Root, "uploads", first.Hash + ".png"), first.Path);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), first.Hash);
        Assert.Equal((12, 8), (first.Width, first.Height));
        Assert.Equal(first, second);
        Assert.Single(Directory.EnumerateFiles(_store.Folder));
        Assert.Equal(bytes, await File.ReadAllBytesAsync(first.Path));
        Assert.True(_store.Contains(first.Path));
    }

    [Fact]
    public async Task Something_that_is_not_a_picture_is_refused_with_a_sentence()
    {
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => _store.SaveAsync("<svg/>"u8.ToArray(), "image/png", _ct));
        Assert.Contains("PNG, JPEG", error.Message);
        Assert.Contains("not accepted", (await Assert.ThrowsAsync<InvalidDataException>(() => _store.SaveAsync(Png(), "image/gif", _ct))).Message);
        Assert.False(Directory.Exists(_store.Folder) && Directory.EnumerateFiles(_store.Folder).Any());
    }

    [Fact]
    public async Task Only_pictures_inside_the_folder_count_as_kept_there()
    {
        var kept = await _store.SaveAsync(Png(), "image/png", _ct);
        var outside = Path.Combine(_sandbox.Root, "elsewhere.png");
        await File.WriteAllBytesAsync(outside, Png());
        var link = Path.Combine(_store.Folder, "link.png");
        File.CreateSymbolicLink(link, outside);

        Assert.True(_store.Contains(kept.Path));
        Assert.False(_store.Contains(outside));
        Assert.False(_store.Contains(Path.Combine(_store.Folder, "..", "elsewhere.png")));
        Assert.False(_store.Contains(link));
        Assert.Null(_store.Read(link));
        Assert.False(_store.Contains(Path.Combine(_store.Folder, "missing.png")));
    }

    [Fact]
    public async Task Purging_removes_old_pictures_that_no_waiting_job_uses()
    {
        var old = await _store.SaveAsync(Png(12, 8), "image/png", _ct);
        var usedByAJob = await _store.SaveAsync(Png(16, 8), "image/png", _ct);
        _sandbox.Time.Advance(TimeSpan.FromDays(8));
        File.SetLastWriteTimeUtc(old.Path, _sandbox.Time.GetUtcNow().UtcDateTime.AddDays(-8));
        File.SetLastWriteTimeUtc(usedByAJob.Path, _sandbox.Time.GetUtcNow().UtcDateTime.AddDays(-8));
        var recent = await _store.SaveAsync(Png(20, 8), "image/png", _ct);

        Assert.Equal(1, _store.Purge(TimeSpan.FromDays(7), [usedByAJob.Path, null]));

        Assert.False(File.Exists(old.Path));
        Assert.True(File.Exists(usedByAJob.Path));
        Assert.True(File.Exists(recent.Path));
    }
}
