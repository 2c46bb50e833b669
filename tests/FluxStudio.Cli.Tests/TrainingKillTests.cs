using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dapper;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Tests;
using Microsoft.Data.Sqlite;

namespace FluxStudio.Cli.Tests;

/// <summary>A training run of the real server process killed with SIGKILL mid-run, then the server started again.</summary>
public sealed class TrainingKillTests : IDisposable
{
    private readonly string _dataRoot = Directory.CreateTempSubdirectory("fluxstudio-cli-kill-").FullName;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public void Dispose() => Directory.Delete(_dataRoot, recursive: true);

    private (Process Process, HttpClient Client) StartServer()
    {
        var port = LoopbackPorts.Free();
        var process = CliProcess.Start(new Dictionary<string, string>
        {
            [CliProcess.DataRootVariable] = _dataRoot,
            ["FluxStudio__Engine__Device"] = "cpu",
            ["FluxStudio__Engine__Precision"] = "fp32",
            ["FluxStudio__Queue__PollInterval"] = "00:00:00.200",
            ["Models__AllowDownload"] = "false",
        }, "serve", "--urls", $"http://127.0.0.1:{port}");
        // Nobody reads the server's output otherwise; a full pipe would stall it.
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return (process, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") });
    }

    /// <summary>Polls the run until <paramref name="until"/> holds; the limit only keeps a broken server from hanging the run.</summary>
    private static async Task<JsonElement> WaitAsync(HttpClient client, string id, Func<JsonElement, bool> until)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        while (true)
        {
            try
            {
                var state = await client.GetFromJsonAsync<JsonElement>($"/api/trainings/{id}", Json, limit.Token);
                if (until(state)) return state;
            }
            catch (HttpRequestException)
            {
                // The server is still starting.
            }
            await Task.Delay(50, limit.Token);
        }
    }

    private static async Task<string> StartRunAsync(HttpClient client, string json, List<(string Name, byte[] Bytes)> images)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while (true)
        {
            var form = new MultipartFormDataContent { { new StringContent(json, Encoding.UTF8, "application/json"), "config" } };
            foreach (var (name, bytes) in images) form.Add(new ByteArrayContent(bytes), "images", name);
            form.Add(new StringContent(TrainingTinyRun.ModelFolder), "modelPath");
            try
            {
                var response = await client.PostAsync("/api/trainings", form, limit.Token);
                Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
                return (await response.Content.ReadFromJsonAsync<JsonElement>(Json)).GetProperty("id").GetString()!;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100, limit.Token);
            }
        }
    }

    [Fact]
    public async Task ARunKilledWithTheServerContinuesFromItsLastCheckpointAtTheNextStartAndEndsAsAnUninterruptedRun()
    {
        var (json, images) = TrainingTinyRun.Upload(steps: 12, every: 2);
        var (first, firstClient) = StartServer();
        string id;
        try
        {
            id = await StartRunAsync(firstClient, json, images);
            // Killed once a checkpoint is written, before the run ends.
            var running = await WaitAsync(firstClient, id, s =>
                s.GetProperty("files").EnumerateArray().Any(f => f.GetProperty("kind").GetString() == "checkpoints") ||
                s.GetProperty("status").GetString() is not ("running" or "queued"));
            Assert.Equal("running", running.GetProperty("status").GetString());
            first.Kill();
            await first.WaitForExitAsync();
        }
        finally
        {
            if (!first.HasExited) first.Kill();
            first.Dispose();
            firstClient.Dispose();
        }
        using (var database = new SqliteConnection($"Data Source={Path.Combine(_dataRoot, "fluxstudio.db")};Pooling=False"))
            Assert.Equal("running", database.ExecuteScalar<string>("SELECT status FROM training_runs WHERE id = @id", new { id }));
        Assert.False(File.Exists(Path.Combine(_dataRoot, "training", id, "out", "lora.safetensors")));
        // Checkpoints written before the kill are not written again: the run goes on from the last, never from zero.
        var before = Directory.GetFiles(Path.Combine(_dataRoot, "training", id, "out", "_checkpoints"))
            .ToDictionary(path => path, File.GetLastWriteTimeUtc);
        Assert.NotEmpty(before);

        var (second, client) = StartServer();
        try
        {
            var done = await WaitAsync(client, id, s => s.GetProperty("status").GetString() is "done" or "failed" or "cancelled");
            Assert.Equal("done", done.GetProperty("status").GetString());
            Assert.Equal(2, done.GetProperty("attempts").GetInt32());
            Assert.All(before, pair => Assert.Equal(pair.Value, File.GetLastWriteTimeUtc(pair.Key)));
            Assert.Equal(Enumerable.Range(1, 12), done.GetProperty("losses").EnumerateArray().Select(l => l.GetProperty("step").GetInt32()));

            var reference = await StartRunAsync(client, json, images);
            var straight = await WaitAsync(client, reference, s => s.GetProperty("status").GetString() is "done" or "failed" or "cancelled");
            Assert.Equal("done", straight.GetProperty("status").GetString());
            Assert.Equal(
                File.ReadAllBytes(Path.Combine(_dataRoot, "training", reference, "out", "lora.safetensors")),
                File.ReadAllBytes(Path.Combine(_dataRoot, "training", id, "out", "lora.safetensors")));
        }
        finally
        {
            second.Kill();
            await second.WaitForExitAsync();
            second.Dispose();
            client.Dispose();
        }
    }
}
