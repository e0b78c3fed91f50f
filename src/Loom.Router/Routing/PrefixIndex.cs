using Loom.Core.KvCache;

namespace Loom.Router.Routing;

/// <summary>
/// What the router believes one replica's prefix cache holds. Fed one of two ways. Routed (the fallback): the block
/// hashes of the prompts it routed there, as SGLang's cache-aware router keeps an approximate radix tree per worker;
/// approximate, since the replica may have evicted a block the index still lists and it never learns of blocks cached by
/// requests sent around the router; bounded: past <see cref="Capacity"/> blocks the least recently routed are
/// forgotten, as the replica's LRU would evict them. Followed: the replica's KV cache events (stored adds, removed
/// removes, cleared empties, a snapshot replaces), so it is exactly what the replica holds; routing then teaches it
/// nothing (<see cref="FollowsEvents"/>). Thread-safe.
/// </summary>
public sealed class PrefixIndex(int capacity)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<BlockHash, LinkedListNode<BlockHash>> _blocks = [];
    private readonly LinkedList<BlockHash> _byRecency = new(); // least recently routed first

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "The capacity must be at least 1 block.");

    public int Count { get { lock (_gate) return _blocks.Count; } }

    /// <summary>True while the replica's event stream keeps the index exact (set by its follower).</summary>
    public bool FollowsEvents { get => Volatile.Read(ref _followsEvents); set => Volatile.Write(ref _followsEvents, value); }
    private bool _followsEvents;

    /// <summary>How many leading blocks of the chain the index holds (a chained hash present implies its whole prefix was routed).</summary>
    public int LongestMatch(ReadOnlySpan<BlockHash> chain)
    {
        lock (_gate)
        {
            int n = 0;
            while (n < chain.Length && _blocks.ContainsKey(chain[n])) n++;
            return n;
        }
    }

    /// <summary>Records that the replica was sent this prompt, so it will hold these blocks; refreshes their recency.</summary>
    public void Add(ReadOnlySpan<BlockHash> chain)
    {
        lock (_gate)
        {
            // Deepest block first, so the root ends most recent: eviction takes leaves before the prefixes they extend.
            for (int i = chain.Length - 1; i >= 0; i--)
            {
                var hash = chain[i];
                if (_blocks.TryGetValue(hash, out var node)) _byRecency.Remove(node);
                else node = _blocks[hash] = new LinkedListNode<BlockHash>(hash);
                _byRecency.AddLast(node);
            }
            while (_blocks.Count > Capacity)
            {
                var oldest = _byRecency.First!;
                _byRecency.RemoveFirst();
                _blocks.Remove(oldest.Value);
            }
        }
    }

    /// <summary>Records what the router routed there, unless the replica's events already say exactly what it holds.</summary>
    public void AddRouted(ReadOnlySpan<BlockHash> chain)
    {
        if (!FollowsEvents) Add(chain);
    }

    /// <summary>Forgets these blocks (the replica evicted them).</summary>
    public void Remove(ReadOnlySpan<BlockHash> hashes)
    {
        lock (_gate)
            foreach (var hash in hashes)
                if (_blocks.Remove(hash, out var node)) _byRecency.Remove(node);
    }

    /// <summary>Holds exactly <paramref name="hashes"/> from now on (a replica's snapshot).</summary>
    public void ReplaceWith(IEnumerable<BlockHash> hashes)
    {
        ArgumentNullException.ThrowIfNull(hashes);
        lock (_gate)
        {
            ClearLocked();
            foreach (var hash in hashes)
                if (!_blocks.ContainsKey(hash)) _blocks[hash] = _byRecency.AddLast(hash);
        }
    }

    /// <summary>The hashes held now (tests compare it with the replica's cache).</summary>
    public HashSet<BlockHash> ToHashSet()
    {
        lock (_gate) return [.. _blocks.Keys];
    }

    /// <summary>Forgets everything (the replica restarted: its cache is empty).</summary>
    public void Clear()
    {
        lock (_gate) ClearLocked();
    }

    /// <summary>
    /// The replica stopped answering: forget what routing taught. An index that follows events keeps what the replica
    /// reported; if the replica is gone its stream breaks too, and the follower's resync replaces the index.
    /// </summary>
    public void ForgetRouted()
    {
        if (!FollowsEvents) Clear();
    }

    private void ClearLocked()
    {
        _blocks.Clear();
        _byRecency.Clear();
    }
}
