using Loom.Core.KvCache;
using Loom.Router.Routing;

namespace Loom.Router.KvEvents;

/// <summary>What became of a batch handed to <see cref="KvEventReplay.Apply"/>.</summary>
public enum ReplayOutcome
{
    /// <summary>The next batch in sequence: applied to the index.</summary>
    Applied,

    /// <summary>Already contained in the snapshot or an earlier batch: ignored.</summary>
    Stale,

    /// <summary>Batches are missing before it (or no snapshot is in place yet): take a snapshot, nothing was applied.</summary>
    Gap,
}

/// <summary>
/// Replays one replica's KV cache events onto its <see cref="PrefixIndex"/>: a snapshot sets the index and the
/// sequence number it includes; each later batch must carry the next number to apply (stored adds, removed removes,
/// cleared empties). Pure, so gap handling is tested without a network. One caller at a time (the follower's loop).
/// </summary>
public sealed class KvEventReplay(PrefixIndex index)
{
    /// <summary>The sequence number the index includes; null until the first snapshot.</summary>
    public long? LastSequence { get; private set; }

    public PrefixIndex Index { get; } = index ?? throw new ArgumentNullException(nameof(index));

    /// <summary>Blocks the replica reported evicted so far (the events carry news a routed-prompt index never gets).</summary>
    public long NumBlocksRemoved { get; private set; }

    public void ApplySnapshot(long sequence, IEnumerable<BlockHash> cachedBlocks)
    {
        Index.ReplaceWith(cachedBlocks);
        LastSequence = sequence;
    }

    public ReplayOutcome Apply(long sequence, IReadOnlyList<KvCacheEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (LastSequence is not { } last) return ReplayOutcome.Gap;
        if (sequence <= last) return ReplayOutcome.Stale;
        if (sequence != last + 1) return ReplayOutcome.Gap;
        foreach (var e in events) ApplyEvent(e);
        LastSequence = sequence;
        return ReplayOutcome.Applied;
    }

    /// <summary>Forgets the sequence (the stream broke): the next batch is a gap until a snapshot is in place.</summary>
    public void Invalidate() => LastSequence = null;

    private void ApplyEvent(KvCacheEvent e)
    {
        switch (e)
        {
            case BlockStored stored: Index.Add(stored.BlockHashes); break;
            case BlockRemoved removed:
                Index.Remove(removed.BlockHashes);
                NumBlocksRemoved += removed.BlockHashes.Length;
                break;
            case AllBlocksCleared: Index.Clear(); break;
            default: throw new ArgumentOutOfRangeException(nameof(e), e, "Unknown KV cache event.");
        }
    }
}
