namespace Loom.Core.KvCache;

/// <summary>
/// The prefix cache's changes since the last <see cref="TryTake"/>, in the order they happened; the engine drains it
/// once per step and publishes. Consecutive removals share one <see cref="BlockRemoved"/>, so an allocation that evicts
/// many blocks costs one event. Owned by the engine thread, like the manager that writes it: no locks.
/// </summary>
public sealed class KvCacheEventLog
{
    private readonly List<KvCacheEvent> _events = [];
    private readonly List<BlockHash> _removed = []; // removals not yet folded into one BlockRemoved

    public bool IsEmpty => _events.Count == 0 && _removed.Count == 0;

    internal void Stored(BlockStored stored)
    {
        FlushRemoved();
        _events.Add(stored);
    }

    internal void Removed(BlockHash hash) => _removed.Add(hash);

    internal void Cleared()
    {
        FlushRemoved();
        _events.Add(AllBlocksCleared.Instance);
    }

    /// <summary>Hands over every change since the last call (false, allocating nothing, when there was none).</summary>
    public bool TryTake(out KvCacheEvent[] events)
    {
        FlushRemoved();
        if (_events.Count == 0)
        {
            events = [];
            return false;
        }
        events = [.. _events];
        _events.Clear();
        return true;
    }

    private void FlushRemoved()
    {
        if (_removed.Count == 0) return;
        _events.Add(new BlockRemoved([.. _removed]));
        _removed.Clear();
    }
}
