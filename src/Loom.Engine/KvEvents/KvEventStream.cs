using System.Threading.Channels;
using Loom.Core.KvCache;

namespace Loom.Engine.KvEvents;

/// <summary>
/// Numbers the engine's event batches and hands each to every subscriber. <see cref="Publish"/> runs on the engine
/// thread and never blocks: a subscriber's queue is bounded and drops what does not fit. Subscribing and leaving
/// happen on other threads; they swap an immutable subscriber array, so publishing takes no lock.
/// </summary>
public sealed class KvEventStream
{
    private readonly Lock _gate = new();
    private volatile Channel<KvEventBatch>[] _subscribers = [];

    /// <summary>The number of the last published batch (0 before the first). Engine thread only.</summary>
    public long LastSequence { get; private set; }

    public void Publish(KvCacheEvent[] events)
    {
        var batch = new KvEventBatch(++LastSequence, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0, events);
        foreach (var subscriber in _subscribers) subscriber.Writer.TryWrite(batch);
    }

    public KvEventSubscription Subscribe(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1, nameof(capacity));
        var channel = Channel.CreateBounded<KvEventBatch>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.DropWrite,
            SingleReader = true,
            SingleWriter = true,
        });
        lock (_gate) _subscribers = [.. _subscribers, channel];
        return new KvEventSubscription(channel.Reader, () => Leave(channel));
    }

    private void Leave(Channel<KvEventBatch> channel)
    {
        lock (_gate) _subscribers = [.. _subscribers.Where(c => c != channel)];
        channel.Writer.TryComplete();
    }
}

/// <summary>One subscriber's feed of batches; disposing it unsubscribes.</summary>
public sealed class KvEventSubscription(ChannelReader<KvEventBatch> batches, Action leave) : IDisposable
{
    private int _left;

    public ChannelReader<KvEventBatch> Batches { get; } = batches;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _left, 1) == 0) leave();
    }
}
