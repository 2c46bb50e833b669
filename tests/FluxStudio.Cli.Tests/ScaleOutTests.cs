using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Dapper;
using FluxStudio.App.Outputs;
using FluxStudio.App.Tests.Support;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Tests;
using FluxStudio.Engine.TinyModel;
using FluxStudio.Web.Tests;
using FluxStudio.Web.Api;
using Npgsql;

namespace FluxStudio.Cli.Tests;

/// <summary>
/// One studio on several machines, for real: a web server that runs no jobs itself and two `fluxstudio worker`
/// processes, each with its own data folder, sharing one PostgreSQL database and one output folder, generating with a
/// tiny FLUX.1 model on the CPU, or training a LoRA on one. One worker is killed (SIGKILL) in the middle of a job or run.
/// </summary>
public sealed class ScaleOutTests : IDisposable
{
    private const int JobCount = 20;
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(5);

    private readonly string _dir = Directory.CreateTempSubdirectory("fluxstudio-scale-out-").FullName;
    private readonly List<Process> _processes = [];
    private readonly ConcurrentQueue<string> _log = new();
    private string? _database;

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
            process.WaitForExit();
            process.Dispose();
        }
        if (_database is not null)
            TestPostgres.DropDatabase(_database);
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Twenty_jobs_complete_exactly_once_on_two_workers_when_one_is_killed_mid_job()
    {
        _database = TestPostgres.CreateDatabase();
        var tiny = Path.Combine(_dir, "tiny");
        TinyModelWriter.Write(tiny, dev: false, seed: 3);
        var output = Directory.CreateDirectory(Path.Combine(_dir, "shared-output")).FullName;
        var shared = new Dictionary<string, string>
        {
            ["FluxStudio__Database__Provider"] = "postgres",
            ["FluxStudio__Database__ConnectionString"] = _database,
            ["FluxStudio__OutputRoot"] = output,
            ["FluxStudio__Queue__LeaseDuration"] = "00:00:03",
            ["FluxStudio__Queue__PollInterval"] = "00:00:00.250",
            ["Models__CacheDirectory"] = Directory.CreateDirectory(Path.Combine(_dir, "empty-hub")).FullName,
            ["Models__AllowDownload"] = "false",
        };
        var port = LoopbackPorts.Free();
        var web = Start("web", shared, new() { ["FluxStudio__Queue__LocalWorkers"] = "false" }, "serve", "--urls", $"http://127.0.0.1:{port}");
        var workerA = Start("a", shared, [], "worker", "--name", "a", "--model", tiny, "--device", "cpu", "--dtype", "fp32");
        Start("b", shared, [], "worker", "--name", "b", "--model", tiny, "--device", "cpu", "--dtype", "fp32");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await WaitUntilAsync("the server answers and both workers are registered", async () =>
            !web.HasExited && await ServerAnswersAsync(client) && await ScalarAsync<long>("SELECT COUNT(*) FROM workers") == 2);

        // The web server runs no worker: the first job's progress reaches its event stream from a worker process.
        var ids = new List<long> { await ApiClient.QueueAsync(client, Job(tiny, 1)) };
        var firstEvents = ReadEventsAsync(client, ids[0]);
        for (var i = 2; i < JobCount; i++)
            ids.Add(await ApiClient.QueueAsync(client, Job(tiny, i)));
        // The last starts from a picture uploaded to the web server, which the worker must get through the database.
        var picture = PngEncoder.Encode(new RgbImage(64, 64, Enumerable.Range(0, 64 * 64 * 3).Select(i => (byte)(i % 253)).ToArray()));
        ids.Add(await QueueWithPictureAsync(client, Job(tiny, JobCount, imageStrength: 0.5), picture));

        // Worker a is killed once it has finished a job and is in the middle of another.
        long? killed = null;
        await WaitUntilAsync("worker a is running a job after finishing one", async () =>
        {
            if (await ScalarAsync<long>("SELECT COUNT(*) FROM jobs WHERE worker = 'a' AND status = 'done'") == 0)
                return false;
            killed = await ScalarAsync<long?>("SELECT id FROM jobs WHERE worker = 'a' AND status = 'running' AND started_at < now() - interval '50 milliseconds'");
            if (killed is null)
                return false;
            workerA.Kill();
            return true;
        });
        await workerA.WaitForExitAsync();
        Assert.Equal("running", await ScalarAsync<string>("SELECT status FROM jobs WHERE id = @killed", new { killed }));

        await WaitUntilAsync("every job has finished", async () =>
            await ScalarAsync<long>("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')") == 0);

        // All twenty completed, each exactly once: one saved image per job, every file owned by one, nothing half-done.
        var jobs = (await QueryAsync<(long Id, string Status, long? ImageId, int Attempts, string Worker)>(
            "SELECT id, status, image_id, attempts, worker FROM jobs ORDER BY id")).ToList();
        Assert.Equal(ids, jobs.Select(j => j.Id));
        Assert.All(jobs, j => Assert.Equal("done", j.Status));
        Assert.Equal(JobCount, jobs.Select(j => j.ImageId).Distinct().Count());
        var images = (await QueryAsync<(long Id, string Status, string File, string Prompt, long Seed)>(
            "SELECT id, status, output_filename, prompt, seed FROM images ORDER BY id")).ToList();
        Assert.Equal(jobs.Select(j => j.ImageId!.Value).Order(), images.Select(i => i.Id));
        Assert.All(images, i => Assert.Equal("saved", i.Status));
        Assert.Equal(images.Select(i => Path.Combine(output, i.File)).Order(), Directory.EnumerateFiles(output).Order());
        // Both workers took jobs; the killed one's went to the other, on a second attempt, and its history is its own.
        Assert.Contains(jobs, j => j.Worker == "a");
        Assert.Contains(jobs, j => j.Worker == "b");
        var retried = jobs.Single(j => j.Id == killed);
        Assert.Equal(("b", 2), (retried.Worker, retried.Attempts));
        Assert.All(jobs.Where(j => j.Id != killed), j => Assert.Equal(1, j.Attempts));
        var retriedImage = images.Single(i => i.Id == retried.ImageId);
        Assert.Equal((ids.IndexOf(retried.Id) + 1L, $"job {ids.IndexOf(retried.Id) + 1}"), (retriedImage.Seed, retriedImage.Prompt));

        // The image-to-image job ran from the worker's own copy of the picture; history names the web server's upload.
        var fromPicture = jobs[^1];
        var hash = Convert.ToHexStringLower(SHA256.HashData(picture));
        Assert.Equal((Path.Combine(_dir, "web", "uploads", hash + ".png"), hash),
            await SingleAsync<(string, string)>("SELECT init_image_path, init_image_hash FROM images WHERE id = @id", new { id = fromPicture.ImageId }));
        Assert.Equal(picture, await File.ReadAllBytesAsync(Path.Combine(_dir, fromPicture.Worker, "uploads", hash + ".png")));
        Assert.Equal(0, await ScalarAsync<long>("SELECT COUNT(*) FROM job_pictures"));

        var stream = await firstEvents.WaitAsync(HangGuard);
        // Progress while the model loads has no step.
        Assert.Contains(stream, e => e.Name == "progress" && e.Data.GetProperty("step") is { ValueKind: JsonValueKind.Number } step && step.GetInt32() == 8);
        Assert.Equal("completed", stream[^1].Name);
        Assert.Equal(jobs[0].ImageId, stream[^1].Data.GetProperty("historyId").GetInt64());
    }

    [Fact]
    public async Task A_training_run_whose_worker_is_killed_continues_on_another_worker_from_its_checkpoint_and_ends_as_an_uninterrupted_run()
    {
        _database = TestPostgres.CreateDatabase();
        var training = Directory.CreateDirectory(Path.Combine(_dir, "shared-training")).FullName;
        var loras = Directory.CreateDirectory(Path.Combine(_dir, "shared-lora")).FullName;
        var shared = new Dictionary<string, string>
        {
            ["FluxStudio__Database__Provider"] = "postgres",
            ["FluxStudio__Database__ConnectionString"] = _database,
            ["FluxStudio__OutputRoot"] = Directory.CreateDirectory(Path.Combine(_dir, "shared-output")).FullName,
            ["FluxStudio__TrainingFolder"] = training,
            ["FluxStudio__LoraFolder"] = loras,
            ["FluxStudio__Queue__LeaseDuration"] = "00:00:03",
            ["FluxStudio__Queue__PollInterval"] = "00:00:00.250",
            ["Models__CacheDirectory"] = Directory.CreateDirectory(Path.Combine(_dir, "empty-hub")).FullName,
            ["Models__AllowDownload"] = "false",
        };
        string[] worker = ["worker", "--model", TrainingTinyRun.ModelFolder, "--device", "cpu", "--dtype", "fp32", "--name"];
        var port = LoopbackPorts.Free();
        var web = Start("web", shared, new() { ["FluxStudio__Queue__LocalWorkers"] = "false" }, "serve", "--urls", $"http://127.0.0.1:{port}");
        var workerA = Start("a", shared, [], [.. worker, "a"]);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = HangGuard };
        await WaitUntilAsync("the server answers and the worker is registered", async () =>
            !web.HasExited && await ServerAnswersAsync(client) && await ScalarAsync<long>("SELECT COUNT(*) FROM workers") == 1);

        const int steps = 8;
        var (json, images) = TrainingTinyRun.Upload(steps, every: 2);
        var id = await StartTrainingAsync(client, json, images);
        // The web server trains nothing: its event stream hears the run from the worker processes.
        var events = ReadEventsAsync(client, $"/api/trainings/{id}/events");

        // Worker a is killed once the run has written a checkpoint and goes on training.
        await WaitUntilAsync("worker a has written a checkpoint", async () =>
            await ScalarAsync<long>("SELECT step FROM training_runs WHERE id = @id AND worker = 'a' AND status = 'running'", new { id }) >= 2);
        workerA.Kill();
        await workerA.WaitForExitAsync();
        Assert.Equal("running", await ScalarAsync<string>("SELECT status FROM training_runs WHERE id = @id", new { id }));
        var output = Path.Combine(training, id, "out");
        Assert.False(File.Exists(Path.Combine(output, "lora.safetensors")));
        var before = Directory.GetFiles(Path.Combine(output, "_checkpoints")).ToDictionary(path => path, File.GetLastWriteTimeUtc);
        Assert.NotEmpty(before);

        Start("b", shared, [], [.. worker, "b"]);
        var done = await WaitForTrainingAsync(client, id);
        Assert.Equal("done", done.GetProperty("status").GetString());
        Assert.Equal((2, 1, "b"), await SingleAsync<(int, int, string)>("SELECT attempts, crashes, worker FROM training_runs WHERE id = @id", new { id }));
        // Continued from the last checkpoint, never from zero: the checkpoints written before the kill are not written again.
        Assert.All(before, pair => Assert.Equal(pair.Value, File.GetLastWriteTimeUtc(pair.Key)));
        Assert.Equal(Enumerable.Range(1, steps), done.GetProperty("losses").EnumerateArray().Select(l => l.GetProperty("step").GetInt32()));
        var stream = await events.WaitAsync(HangGuard);
        Assert.Equal(Enumerable.Range(1, steps), stream.Where(e => e.Name == "progress" && e.Data.GetProperty("loss").ValueKind == JsonValueKind.Number)
            .Select(e => e.Data.GetProperty("step").GetInt32()).Distinct().Order());
        Assert.Equal("done", stream[^1].Data.GetProperty("status").GetString());
        // The LoRA is in the shared LoRA folder, where generation workers and the web server find it.
        var lora = done.GetProperty("loraName").GetString()!;
        Assert.Equal(File.ReadAllBytes(Path.Combine(output, "lora.safetensors")), File.ReadAllBytes(Path.Combine(loras, lora)));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/trainings/{id}/files/lora/lora.safetensors")).StatusCode);

        var reference = await StartTrainingAsync(client, json, images);
        Assert.Equal("done", (await WaitForTrainingAsync(client, reference)).GetProperty("status").GetString());
        Assert.Equal(File.ReadAllBytes(Path.Combine(training, reference, "out", "lora.safetensors")), File.ReadAllBytes(Path.Combine(output, "lora.safetensors")));
    }

    private static async Task<string> StartTrainingAsync(HttpClient client, string json, List<(string Name, byte[] Bytes)> images)
    {
        using var form = new MultipartFormDataContent { { new StringContent(json, System.Text.Encoding.UTF8, "application/json"), "config" } };
        foreach (var (name, bytes) in images)
            form.Add(new ByteArrayContent(bytes), "images", name);
        form.Add(new StringContent(TrainingTinyRun.ModelFolder), "modelPath");
        var response = await client.PostAsync("/api/trainings", form);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>(ApiClient.Json)).GetProperty("id").GetString()!;
    }

    private async Task<JsonElement> WaitForTrainingAsync(HttpClient client, string id)
    {
        JsonElement state = default;
        await WaitUntilAsync($"training run {id} has ended", async () =>
        {
            state = await client.GetFromJsonAsync<JsonElement>($"/api/trainings/{id}", ApiClient.Json);
            return state.GetProperty("status").GetString() is "done" or "failed" or "cancelled";
        });
        return state;
    }

    private static object Job(string model, int number, double? imageStrength = null) =>
        new { prompt = $"job {number}", model = "schnell", path = model, steps = 8, seed = number, width = 64, height = 64, imageStrength };

    private static async Task<long> QueueWithPictureAsync(HttpClient client, object settings, byte[] picture)
    {
        using var form = new MultipartFormDataContent
        {
            { JsonContent.Create(settings, options: ApiClient.Json), GenerationApiBody.RequestField },
            { new ByteArrayContent(picture), GenerationApiBody.InitImageField, "start.png" },
        };
        var response = await client.PostAsync("/api/generations", form);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<GenerationCreated>(ApiClient.Json))!.Id;
    }

    private Process Start(string name, Dictionary<string, string> shared, Dictionary<string, string> own, params string[] arguments)
    {
        var environment = new Dictionary<string, string>(shared) { ["FluxStudio__DataRoot"] = Directory.CreateDirectory(Path.Combine(_dir, name)).FullName };
        foreach (var (key, value) in own)
            environment[key] = value;
        var process = CliProcess.Start(environment, arguments);
        process.OutputDataReceived += (_, line) => _log.Enqueue($"{name}: {line.Data}");
        process.ErrorDataReceived += (_, line) => _log.Enqueue($"{name}! {line.Data}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        return process;
    }

    private static async Task<bool> ServerAnswersAsync(HttpClient client)
    {
        try
        {
            return (await client.GetAsync("/api/generations/1")).StatusCode == System.Net.HttpStatusCode.NotFound;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static Task<List<(string Name, JsonElement Data)>> ReadEventsAsync(HttpClient client, long id) =>
        ReadEventsAsync(client, $"/api/generations/{id}/events");

    private static async Task<List<(string Name, JsonElement Data)>> ReadEventsAsync(HttpClient client, string path)
    {
        var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        return await ApiClient.ReadEventsAsync(response);
    }

    private async Task WaitUntilAsync(string what, Func<Task<bool>> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > HangGuard)
                Assert.Fail($"Waited {HangGuard} for {what}. The processes said:\n{string.Join('\n', _log)}");
            await Task.Delay(20);
        }
    }

    private async Task<T?> ScalarAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(_database);
        return await connection.ExecuteScalarAsync<T>(sql, parameters);
    }

    private async Task<T> SingleAsync<T>(string sql, object parameters)
    {
        await using var connection = new NpgsqlConnection(_database);
        return await connection.QuerySingleAsync<T>(sql, parameters);
    }

    private async Task<IEnumerable<T>> QueryAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(_database);
        return await connection.QueryAsync<T>(sql);
    }
}
