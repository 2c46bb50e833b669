using System.Data.Common;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Dapper;
using FluxStudio.App.Data;
using FluxStudio.App.Training;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace FluxStudio.App.Generation;

/// <summary>
/// Carries the queue's events between the processes that share a PostgreSQL database, through <c>LISTEN/NOTIFY</c>:
/// what this process publishes on <see cref="GenerationEvents"/> goes out on <c>fluxstudio_events</c>, and what the others
/// send is delivered here, so every web server follows every job, whichever machine runs it. A notification carries a
/// few numbers (the job, the kind, the step), far below PostgreSQL's 8000-byte limit on a payload: a step's preview is
/// written to the job's row and read from there by each receiver, and a job's error and warnings, which the run has
/// already stored, and the images it has made, are read from the row too. Cancel requests arrive on <c>fluxstudio_cancel</c> (announced by the
/// database when the flag is set) and stop this process's run of the job at once. Training runs travel the same way on
/// <c>fluxstudio_training</c> (a run's id, stage, step, loss and the name of a file just written, which every machine
/// finds in the shared training folder) and <c>fluxstudio_training_cancel</c>. Does nothing on SQLite.
/// </summary>
public sealed class QueueEventRelay(
    StudioDatabase database,
    GenerationEvents events,
    RunningJobs running,
    ILogger<QueueEventRelay>? logger = null,
    TimeProvider? time = null,
    TrainingJobs? training = null) : BackgroundService
{
    private const string EventChannel = "fluxstudio_events";
    private const string CancelChannel = "fluxstudio_cancel";
    private const string TrainingChannel = "fluxstudio_training";
    private const string TrainingCancelChannel = "fluxstudio_training_cancel";
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan PreviewKeptAfterEnd = TimeSpan.FromMinutes(1);

    private static readonly JsonSerializerOptions PayloadJson = new()
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly ILogger _logger = logger ?? NullLogger<QueueEventRelay>.Instance;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly string _origin = Guid.NewGuid().ToString("N");
    private readonly Channel<QueueEvent> _outgoing = Channel.CreateUnbounded<QueueEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<TrainingNotice> _outgoingTraining = Channel.CreateUnbounded<TrainingNotice>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<NpgsqlNotificationEventArgs> _incoming =
        Channel.CreateUnbounded<NpgsqlNotificationEventArgs>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once this process listens, so events others send from then on reach it.</summary>
    public Task Listening => _listening.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!database.IsShared)
            return;
        events.PublishedHere += Send;
        if (training is not null)
            training.PublishedHere += SendTraining;
        try
        {
            await Task.WhenAll(SendAsync(stoppingToken), SendTrainingAsync(stoppingToken), ListenAsync(stoppingToken), DeliverAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            events.PublishedHere -= Send;
            if (training is not null)
                training.PublishedHere -= SendTraining;
        }
    }

    private void Send(QueueEvent queueEvent) => _outgoing.Writer.TryWrite(queueEvent);

    private void SendTraining(TrainingRunChanged change) => _outgoingTraining.Writer.TryWrite(TrainingJobs.Notice(change));

    /// <summary>Sends this process's training changes in the order they happened; everything else is in the run's row and folder.</summary>
    private async Task SendTrainingAsync(CancellationToken ct)
    {
        await foreach (var notice in _outgoingTraining.Reader.ReadAllAsync(ct))
        {
            var payload = JsonSerializer.Serialize(new TrainingPayload(_origin, notice), PayloadJson);
            await WithRetryAsync("sending a training event", async () =>
            {
                await using var connection = await database.OpenAsync(ct);
                await connection.ExecuteAsync(new CommandDefinition($"SELECT pg_notify('{TrainingChannel}', @payload);", new { payload },
                    cancellationToken: ct));
            }, ct);
        }
    }

    /// <summary>Sends this process's events in the order they happened, each in one statement with its preview, if any.</summary>
    private async Task SendAsync(CancellationToken ct)
    {
        await foreach (var queueEvent in _outgoing.Reader.ReadAllAsync(ct))
        {
            var payload = JsonSerializer.Serialize(new Payload(_origin, queueEvent.Kind, queueEvent.JobId, queueEvent.Step, queueEvent.TotalSteps,
                queueEvent.ImageId, queueEvent.Image, queueEvent.Images, queueEvent.PreviewPng is not null ? true : null, queueEvent.Stage), PayloadJson);
            // A job's latest preview stays in its row for the listeners that have yet to read it; those of other jobs that
            // ended a while ago are dropped whenever a run ends. "A while ago" is measured on the clock that wrote
            // finished_at, not the database's: a listener still reading this run's last step must find its preview.
            var preview = queueEvent.PreviewPng is not null ? "UPDATE jobs SET preview_png = @png WHERE id = @id;"
                : queueEvent.EndsRun ? "UPDATE jobs SET preview_png = NULL WHERE preview_png IS NOT NULL AND finished_at < @endedBefore AND id <> @id;"
                : "";
            var endedBefore = database.Sql.Timestamp(_time.GetUtcNow() - PreviewKeptAfterEnd);
            await WithRetryAsync("sending a queue event", async () =>
            {
                await using var connection = await database.OpenAsync(ct);
                await connection.ExecuteAsync(new CommandDefinition($"{preview} SELECT pg_notify('{EventChannel}', @payload);",
                    new { id = queueEvent.JobId, png = queueEvent.PreviewPng, endedBefore, payload }, cancellationToken: ct));
            }, ct);
        }
    }

    /// <summary>Listens on a connection of its own, and listens again after losing it.</summary>
    private async Task ListenAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var connection = (NpgsqlConnection)await database.OpenAsync(ct);
                connection.Notification += (_, notification) => _incoming.Writer.TryWrite(notification);
                await connection.ExecuteAsync(new CommandDefinition($"LISTEN {EventChannel}; LISTEN {CancelChannel}; LISTEN {TrainingChannel}; LISTEN {TrainingCancelChannel};", cancellationToken: ct));
                _listening.TrySetResult();
                while (true)
                    await connection.WaitAsync(ct);
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                _logger.LogWarning(ex, "Listening for other machines' queue events failed; listening again in {Delay}", RetryDelay);
                await Task.Delay(RetryDelay, ct);
            }
        }
    }

    /// <summary>Delivers what others sent, in the order it came, with what the notification leaves in the row.</summary>
    private async Task DeliverAsync(CancellationToken ct)
    {
        await foreach (var notification in _incoming.Reader.ReadAllAsync(ct))
        {
            try
            {
                if (notification.Channel == CancelChannel)
                {
                    if (long.TryParse(notification.Payload, out var jobId) && running.IsRunning(jobId))
                        await running.RequestCancelAsync(jobId);
                    continue;
                }
                if (notification.Channel == TrainingCancelChannel)
                {
                    if (training is not null)
                        await training.CancelHereAsync(notification.Payload);
                    continue;
                }
                if (notification.Channel == TrainingChannel)
                {
                    if (training is not null && JsonSerializer.Deserialize<TrainingPayload>(notification.Payload, PayloadJson) is { } trained &&
                        trained.Origin != _origin)
                        await training.ReceiveAsync(trained.Notice, ct);
                    continue;
                }
                var payload = JsonSerializer.Deserialize<Payload>(notification.Payload, PayloadJson);
                if (payload is null || payload.Origin == _origin)
                    continue;
                events.Receive(await HydrateAsync(payload, ct));
            }
            catch (Exception ex) when (ex is JsonException or DbException)
            {
                _logger.LogWarning(ex, "A queue event from another machine could not be delivered: {Payload}", notification.Payload);
            }
        }
    }

    private async Task<QueueEvent> HydrateAsync(Payload payload, CancellationToken ct)
    {
        var queueEvent = new QueueEvent(payload.Kind, payload.Job)
        {
            Step = payload.Step, TotalSteps = payload.Total, ImageId = payload.ImageId, Image = payload.Image, Images = payload.Images,
            Stage = payload.Stage,
        };
        var listsImages = payload.Kind is QueueEventKind.ImageSaved or QueueEventKind.Completed or QueueEventKind.Failed or QueueEventKind.Cancelled;
        if (payload.Preview is not true && !listsImages)
            return queueEvent;
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<StoredDetails>(new CommandDefinition(
            "SELECT preview_png AS PreviewPng, error AS Error, warnings AS Warnings, image_ids AS ImageIds FROM jobs WHERE id = @id",
            new { id = payload.Job }, cancellationToken: ct));
        if (row is null)
            return queueEvent;
        var imageIds = JsonSerializer.Deserialize<long[]>(row.ImageIds) ?? [];
        // The row may already list images saved after this one.
        if (payload.Kind == QueueEventKind.ImageSaved && Array.IndexOf(imageIds, payload.ImageId ?? 0) is var saved and >= 0)
            imageIds = imageIds[..(saved + 1)];
        return queueEvent with
        {
            PreviewPng = payload.Preview is true ? row.PreviewPng : null,
            Error = payload.Kind == QueueEventKind.Failed ? row.Error : null,
            Warnings = payload.Kind == QueueEventKind.Completed ? JsonSerializer.Deserialize<string[]>(row.Warnings) ?? [] : [],
            ImageIds = listsImages ? imageIds : [],
        };
    }

    private async Task WithRetryAsync(string what, Func<Task> action, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await action();
                return;
            }
            catch (Exception ex) when (ex is DbException or DatabaseUnavailableException && attempt < 3)
            {
                _logger.LogWarning(ex, "{What} failed; trying again", what);
                await Task.Delay(RetryDelay, ct);
            }
            catch (Exception ex) when (ex is DbException or DatabaseUnavailableException)
            {
                // Listeners elsewhere miss this event; the job's row still says where it stands.
                _logger.LogError(ex, "{What} failed; other machines do not hear of it", what);
                return;
            }
        }
    }

    /// <param name="Stage">What the engine is doing, with a progress event: the web's tracker follows progress by its stage.</param>
    private sealed record Payload(string Origin, QueueEventKind Kind, long Job, int? Step, int? Total, long? ImageId, int? Image, int? Images,
        bool? Preview, Engine.Pipeline.GenerationStage? Stage = null);

    private sealed record TrainingPayload(string Origin, TrainingNotice Notice);

    private sealed class StoredDetails
    {
        public byte[]? PreviewPng { get; init; }
        public string? Error { get; init; }
        public string Warnings { get; init; } = "[]";
        public string ImageIds { get; init; } = "[]";
    }
}
