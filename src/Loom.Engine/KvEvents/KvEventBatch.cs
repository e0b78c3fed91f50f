using Loom.Core.KvCache;

namespace Loom.Engine.KvEvents;

/// <summary>
/// The prefix-cache changes of one engine step (vLLM's KVEventBatch), numbered: batch n + 1 follows batch n with nothing
/// between, so a subscriber that sees a jump knows it missed changes and must take a <see cref="KvCacheSnapshot"/>.
/// </summary>
/// <param name="Sequence">1 for the engine's first batch, then one more per batch.</param>
/// <param name="Timestamp">Unix time in seconds when the step published it (vLLM's ts).</param>
public sealed record KvEventBatch(long Sequence, double Timestamp, KvCacheEvent[] Events);

/// <summary>Every block in the prefix cache once batches up to <paramref name="Sequence"/> (0: none yet) have happened.</summary>
public sealed record KvCacheSnapshot(long Sequence, CachedBlock[] Blocks, int BlockSize);

/// <summary>What a KV event service asks of an engine: a live stream of batches and a snapshot to resynchronize with.</summary>
public interface IKvEventSource
{
    /// <summary>False when the engine records no events (<see cref="EngineOptions.EnableKvCacheEvents"/> off).</summary>
    bool KvEventsEnabled { get; }

    /// <summary>
    /// A live feed of the batches published from now on. It holds at most <paramref name="capacity"/> unread batches;
    /// past that, new ones are dropped (the engine never waits for a reader), which the reader sees as a gap.
    /// </summary>
    KvEventSubscription SubscribeKvEvents(int capacity);

    /// <summary>The cached blocks and the sequence number they include, taken on the engine thread between steps.</summary>
    Task<KvCacheSnapshot> KvSnapshotAsync();
}
