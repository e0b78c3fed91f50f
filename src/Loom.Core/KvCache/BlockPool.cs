using System.Diagnostics;

namespace Loom.Core.KvCache;

/// <summary>
/// Owns every KV block id: reference counts, the free queue and the prefix-cache map (hash → block).
/// A block whose refcount drops to 0 goes to the tail of the free queue but keeps its hash, so it can be revived by a
/// cache hit until it reaches the head and is handed out again (then its hash is evicted).
/// </summary>
public sealed class BlockPool
{
    private readonly KvBlock[] _blocks;
    private readonly FreeBlockQueue _free;
    private readonly Dictionary<BlockHash, KvBlock> _cached = new();
    private KvCacheEventLog? _events; // null: nobody listens, nothing is recorded

    public BlockPool(int numBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numBlocks, 1, nameof(numBlocks));
        _blocks = new KvBlock[numBlocks];
        for (int i = 0; i < numBlocks; i++) _blocks[i] = new KvBlock(i);
        _free = new FreeBlockQueue(_blocks);
    }

    public int NumBlocks => _blocks.Length;

    /// <summary>Blocks with refcount 0, cached or not (a cached one is evicted when handed out).</summary>
    public int NumFreeBlocks => _free.Count;

    public int NumUsedBlocks => NumBlocks - NumFreeBlocks;

    /// <summary>Blocks currently registered in the prefix cache (referenced or not).</summary>
    public int NumCachedBlocks => _cached.Count;

    /// <summary>Cached blocks handed out for new content so far.</summary>
    public long NumEvictions { get; private set; }

    public KvBlock this[int blockId] => _blocks[blockId];

    /// <summary>Starts recording every change to the cached hash set into a log (once; later calls return the same log).</summary>
    public KvCacheEventLog EnableEvents() => _events ??= new KvCacheEventLog();

    /// <summary>Every cached block with its parent: what a replayed event stream must hold (a router's gap recovery).</summary>
    public CachedBlock[] CachedBlocks()
    {
        var blocks = new CachedBlock[_cached.Count];
        int i = 0;
        foreach (var (hash, block) in _cached) blocks[i++] = new CachedBlock(hash, block.ParentHash);
        return blocks;
    }

    /// <summary>Takes the block at the head of the free queue (least recently freed), evicting its hash; refcount 1.</summary>
    public KvBlock Allocate()
    {
        if (_free.Count == 0) throw new InvalidOperationException($"All {NumBlocks} KV blocks are in use.");
        var block = _free.PopFront();
        Evict(block);
        Debug.Assert(block.RefCount == 0);
        block.RefCount = 1;
        return block;
    }

    public bool TryGetCached(BlockHash hash, out KvBlock block) => _cached.TryGetValue(hash, out block!);

    /// <summary>Adds a reference to a block that may be free (a prefix-cache hit) or shared (a fork).</summary>
    public void Touch(KvBlock block)
    {
        if (block.RefCount == 0) _free.Remove(block);
        block.RefCount++;
    }

    /// <summary>Drops one reference; the last one sends the block to the tail of the free queue, hash kept.</summary>
    public void Release(KvBlock block)
    {
        if (block.RefCount <= 0) throw new InvalidOperationException($"KV block {block.BlockId} released more often than referenced.");
        if (--block.RefCount == 0) _free.Append(block);
    }

    /// <summary>
    /// Registers a full, computed block under its chain hash (<paramref name="parent"/>: the previous block's, null for
    /// a chain's first). If another block already holds the same content (two requests computed the same prefix at
    /// once) the first stays canonical and this one remains uncached. Returns whether the hash entered the cache.
    /// </summary>
    public bool Cache(KvBlock block, BlockHash hash, BlockHash? parent = null)
    {
        Debug.Assert(block.RefCount > 0, "only referenced blocks are cached");
        if (block.Hash is not null || !_cached.TryAdd(hash, block)) return false;
        block.Hash = hash;
        block.ParentHash = parent;
        return true;
    }

    /// <summary>Takes a block out of the prefix cache (its content is about to change); no-op if it is not cached.</summary>
    public void Uncache(KvBlock block)
    {
        if (block.Hash is not { } hash) return;
        _cached.Remove(hash);
        block.Hash = block.ParentHash = null;
        _events?.Removed(hash);
    }

    /// <summary>
    /// Forgets every free cached block (e.g. after weights change). Referenced blocks keep their hash; when there are
    /// none the cache ends empty and the log says so in one <see cref="AllBlocksCleared"/>.
    /// </summary>
    public void ResetPrefixCache()
    {
        bool clearsAll = _cached.Values.All(b => b.RefCount == 0);
        foreach (var block in _free.Enumerate()) Evict(block, logged: !clearsAll);
        if (clearsAll) _events?.Cleared();
    }

    private void Evict(KvBlock block, bool logged = true)
    {
        if (block.Hash is not { } hash) return;
        _cached.Remove(hash);
        block.Hash = block.ParentHash = null;
        NumEvictions++;
        if (logged) _events?.Removed(hash);
    }

    /// <summary>
    /// Throws if the structure is inconsistent: the free queue must hold exactly the blocks with refcount 0, and the
    /// cache map and the blocks' hashes must agree.
    /// </summary>
    public void CheckConsistency()
    {
        int freeWalked = 0;
        foreach (var block in _free.Enumerate())
        {
            if (block.RefCount != 0) throw new InvalidOperationException($"KV block {block.BlockId} is in the free queue with refcount {block.RefCount}.");
            freeWalked++;
        }
        if (freeWalked != _free.Count) throw new InvalidOperationException($"Free queue count {_free.Count} but {freeWalked} linked blocks.");
        foreach (var block in _blocks)
        {
            if (block.RefCount < 0) throw new InvalidOperationException($"KV block {block.BlockId} has negative refcount {block.RefCount}.");
            if (block.RefCount == 0 && !_free.Contains(block)) throw new InvalidOperationException($"KV block {block.BlockId} has refcount 0 but is not free: leaked.");
            if (block.RefCount > 0 && _free.Contains(block)) throw new InvalidOperationException($"KV block {block.BlockId} is referenced but in the free queue.");
            if (block.Hash is { } h && (!_cached.TryGetValue(h, out var owner) || owner != block))
                throw new InvalidOperationException($"KV block {block.BlockId} carries hash {h} that the cache map does not point at it.");
        }
        foreach (var (hash, block) in _cached)
            if (block.Hash != hash) throw new InvalidOperationException($"Cache map entry {hash} points at block {block.BlockId} with hash {block.Hash}.");
    }

    /// <summary>Idle self-check: with no request alive, every block must be free (cached or not) with refcount 0.</summary>
    public void CheckIdle()
    {
        CheckConsistency();
        if (_free.Count != NumBlocks)
        {
            var held = _blocks.Where(b => b.RefCount != 0).Take(8).Select(b => $"{b.BlockId} (ref {b.RefCount})");
            throw new InvalidOperationException(
                $"KV cache self-check failed: engine idle but {NumBlocks - _free.Count} of {NumBlocks} blocks are still referenced: {string.Join(", ", held)}.");
        }
    }
}
