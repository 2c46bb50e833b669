using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FluxStudio.App.Generation;

/// <summary>
/// Where the generation queue announces what happens to jobs: <see cref="GenerationQueue"/> publishes what it does to
/// waiting jobs (queued, cancelled, re-queued), <see cref="GenerationWorker"/> what happens while one runs (started,
/// step i of n, completed, failed, cancelled, interrupted). The API's event streams, the progress tracker and the
/// Generate tab listen here. With a shared database, <see cref="QueueEventRelay"/> carries the events published here to
/// the other processes and delivers theirs here (<see cref="Receive"/>), so listeners hear every job whatever runs it.
/// </summary>
public sealed class GenerationEvents(ILogger<GenerationEvents>? logger = null)
{
    private readonly ILogger<GenerationEvents> _logger = logger ?? NullLogger<GenerationEvents>.Instance;
    private readonly Lock _subscribersGate = new();
    private readonly List<Channel<QueueEvent>> _subscribers = [];

    /// <summary>Raised for every event, on the thread that caused it.</summary>
    public event EventHandler<QueueEvent>? Changed;

    /// <summary>Raised for each event published in this process, not for those received from others.</summary>
    internal event Action<QueueEvent>? PublishedHere;

    /// <summary>Announces something that happened in this process.</summary>
    public void Publish(QueueEvent queueEvent)
    {
        Deliver(queueEvent);
        PublishedHere?.Invoke(queueEvent);
    }

    /// <summary>Delivers an event another process published to this process's listeners.</summary>
    public void Receive(QueueEvent queueEvent) => Deliver(queueEvent);

    private void Deliver(QueueEvent queueEvent)
    {
        lock (_subscribersGate)
        {
            foreach (var subscriber in _subscribers)
                subscriber.Writer.TryWrite(queueEvent);
        }
        try
        {
            Changed?.Invoke(this, queueEvent);
        }
        catch (Exception ex)
        {
            // A faulty listener must not fail the job it listens to.
            _logger.LogWarning(ex, "A queue event handler failed");
        }
    }

    /// <summary>
    /// Events from the moment of this call until <paramref name="ct"/> is cancelled; each subscriber gets every event
    /// in the order it happened. Enumerate the result (or cancel) so the subscription ends.
    /// </summary>
    public IAsyncEnumerable<QueueEvent> SubscribeAsync(CancellationToken ct)
    {
        // Registered now, not at the first MoveNext, so no event between this call and the first read is missed.
        var channel = Channel.CreateUnbounded<QueueEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (_subscribersGate)
            _subscribers.Add(channel);
        var registration = ct.Register(() => Unsubscribe(channel));
        return ReadAsync(channel, registration, ct);
    }

    private async IAsyncEnumerable<QueueEvent> ReadAsync(Channel<QueueEvent> channel, CancellationTokenRegistration registration,
        [EnumeratorCancellation] CancellationToken ct)
    {
        try
        {
            while (await channel.Reader.WaitToReadAsync(ct))
            {
                while (channel.Reader.TryRead(out var item))
                    yield return item;
            }
        }
        finally
        {
            await registration.DisposeAsync();
            Unsubscribe(channel);
        }
    }

    private void Unsubscribe(Channel<QueueEvent> channel)
    {
        lock (_subscribersGate)
            _subscribers.Remove(channel);
        channel.Writer.TryComplete();
    }
}
