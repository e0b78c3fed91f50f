using Loom.Core.KvCache;
using Loom.Engine.KvEvents;

namespace Loom.Engine;

/// <summary>
/// KV cache events: with <see cref="EngineOptions.EnableKvCacheEvents"/> the KV cache manager records each change to
/// its cached hash set in a log; the engine drains it at the end of every step into one numbered batch.
/// </summary>
public sealed partial class LlmEngine
{
    private readonly KvCacheEventLog? _kvEventLog;

    /// <summary>The numbered stream of prefix-cache changes; null when events are off.</summary>
    public KvEventStream? KvEvents { get; }

    /// <summary>Publishes what the step changed in the prefix cache, if anything (engine thread).</summary>
    private void PublishKvEvents()
    {
        if (_kvEventLog is not null && _kvEventLog.TryTake(out var events)) KvEvents!.Publish(events);
    }

    /// <summary>Every cached block, consistent with the batches published so far (engine thread, between steps).</summary>
    public KvCacheSnapshot KvSnapshot()
    {
        if (KvEvents is null) throw new InvalidOperationException("This engine records no KV cache events (enable_kv_cache_events is off).");
        PublishKvEvents();
        var kv = _scheduler.KvCache;
        return new KvCacheSnapshot(KvEvents.LastSequence, kv.Pool.CachedBlocks(), kv.BlockSize);
    }
}
