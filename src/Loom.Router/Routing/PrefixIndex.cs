using Loom.Core.KvCache;

namespace Loom.Router.Routing;

/// <summary>
/// What the router believes one replica's prefix cache holds: the block hashes of the prompts it routed there, as
/// SGLang's cache-aware router keeps an approximate radix tree per worker. It is approximate: the replica may have
/// evicted a block the index still lists, and it never learns of blocks cached by requests sent around the router.
/// (Replicas streaming KV events would make it exact; they do not yet.) Bounded: past <see cref="Capacity"/> blocks the
/// least recently routed are forgotten, as the replica's LRU would evict them. Thread-safe.
/// </summary>
public sealed class PrefixIndex(int capacity)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<BlockHash, LinkedListNode<BlockHash>> _blocks = [];
    private readonly LinkedList<BlockHash> _byRecency = new(); // least recently routed first

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "The capacity must be at least 1 block.");

    public int Count { get { lock (_gate) return _blocks.Count; } }

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

    /// <summary>Forgets everything (the replica restarted: its cache is empty).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _blocks.Clear();
            _byRecency.Clear();
        }
    }
}
