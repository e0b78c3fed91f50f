using System.Diagnostics;
using Loom.Core.Requests;

namespace Loom.Core.KvCache;

/// <summary>The blocks a new request can reuse instead of computing: a prefix-cache hit or a sibling's prompt.</summary>
/// <param name="Blocks">Leading blocks of the request, in order.</param>
/// <param name="NumTokens">Tokens they cover (whole blocks).</param>
/// <param name="FromPrefixCache">True for a prefix-cache lookup (counted in the hit statistics), false for a fork.</param>
public readonly record struct ComputedBlocks(IReadOnlyList<KvBlock> Blocks, int NumTokens, bool FromPrefixCache)
{
    public static ComputedBlocks None { get; } = new([], 0, false);
}

/// <summary>
/// Maps requests to KV blocks (vLLM's KVCacheManager): allocates slots for new tokens, frees, and implements automatic
/// prefix caching — a full block is registered under the hash of its tokens chained with its parent's hash, and a new
/// request reuses the longest chain of cached blocks of its prompt.
/// </summary>
public sealed class KvCacheManager
{
    private readonly Dictionary<string, SequenceBlocks> _sequences = new();

    public KvCacheManager(int numBlocks, int blockSize, bool enablePrefixCaching)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1, nameof(blockSize));
        Pool = new BlockPool(numBlocks);
        BlockSize = blockSize;
        EnablePrefixCaching = enablePrefixCaching;
    }

    private KvCacheEventLog? _events;

    public BlockPool Pool { get; }

    /// <summary>
    /// Starts recording prefix-cache changes (blocks stored, removed, all cleared) for the engine to drain each step;
    /// off by default, so a replica nobody follows pays nothing. Returns the log (the same one on every call).
    /// </summary>
    public KvCacheEventLog EnableEvents() => _events ??= Pool.EnableEvents();

    /// <summary>The recording log, or null while events are off.</summary>
    public KvCacheEventLog? Events => _events;
    public int BlockSize { get; }
    public bool EnablePrefixCaching { get; }
    public int NumBlocks => Pool.NumBlocks;

    /// <summary>Prompt tokens looked up in the prefix cache (vLLM's prefix_cache_queries, in tokens).</summary>
    public long PrefixCacheQueries { get; private set; }
    /// <summary>Of those, tokens found cached (vLLM's prefix_cache_hits).</summary>
    public long PrefixCacheHits { get; private set; }

    public int BlocksFor(int numTokens) => (numTokens + BlockSize - 1) / BlockSize;

    /// <summary>
    /// Blocks whose KV this (not yet scheduled) request can reuse: the longest chain of cached full blocks of its tokens,
    /// or, for a forked sample, its source's full prompt blocks. Never covers the last token, whose logits must be computed.
    /// </summary>
    public ComputedBlocks GetComputedBlocks(Request request)
    {
        Debug.Assert(!_sequences.ContainsKey(request.RequestId), "only requests without blocks look up computed blocks");
        int maxBlocks = (request.NumTokens - 1) / BlockSize;
        var shared = SharedBlocksOfForkSource(request, maxBlocks);
        // A request that scores its prompt (prompt_logprobs) needs the logits of every prompt position: no cache hits.
        if (!EnablePrefixCaching || !request.ReadsPrefixCache) return shared;

        EnsureHashes(request, maxBlocks);
        var hits = new List<KvBlock>();
        for (int i = 0; i < maxBlocks && Pool.TryGetCached(request.BlockHashes[i], out var block); i++)
            hits.Add(block);
        return hits.Count >= shared.Blocks.Count ? new ComputedBlocks(hits, hits.Count * BlockSize, true) : shared;
    }

    private ComputedBlocks SharedBlocksOfForkSource(Request request, int maxBlocks)
    {
        if (request.ForkSource is not { } source || !_sequences.TryGetValue(source.RequestId, out var sourceBlocks)) return ComputedBlocks.None;
        int promptComputed = Math.Min(source.NumComputedTokens, source.NumPromptTokens);
        int count = Math.Min(Math.Min(promptComputed / BlockSize, maxBlocks), sourceBlocks.Blocks.Count);
        if (count == 0) return ComputedBlocks.None;
        return new ComputedBlocks(sourceBlocks.Blocks.GetRange(0, count), count * BlockSize, false);
    }

    /// <summary>
    /// Makes room for <paramref name="numNewTokens"/> more tokens of <paramref name="request"/> after its computed ones
    /// (and after <paramref name="computed"/>, the reused blocks of a request being admitted). Returns false, changing
    /// nothing, when the free blocks (evictable cached ones included) do not suffice.
    /// </summary>
    public bool TryAllocateSlots(Request request, int numNewTokens, ComputedBlocks computed = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(numNewTokens, nameof(numNewTokens));
        var hitBlocks = computed.Blocks ?? [];
        _sequences.TryGetValue(request.RequestId, out var seq);
        int held = seq?.Blocks.Count ?? 0;
        int totalTokens = request.NumComputedTokens + computed.NumTokens + numNewTokens;
        int numNew = Math.Max(0, BlocksFor(totalTokens) - held - hitBlocks.Count);

        // Hit blocks with refcount 0 sit in the free queue: touching them takes them out of it.
        int hitsFromFreeQueue = 0;
        foreach (var block in hitBlocks) if (block.RefCount == 0) hitsFromFreeQueue++;
        if (numNew > Pool.NumFreeBlocks - hitsFromFreeQueue) return false;

        if (seq is null)
        {
            _sequences.Add(request.RequestId, seq = new SequenceBlocks());
            // Counted on admission only, so a request retried over several steps is one query.
            if (EnablePrefixCaching && (computed.FromPrefixCache || computed.Blocks is null || computed.Blocks.Count == 0))
            {
                PrefixCacheQueries += request.NumTokens;
                PrefixCacheHits += computed.FromPrefixCache ? computed.NumTokens : 0;
            }
        }
        foreach (var block in hitBlocks)
        {
            Pool.Touch(block);
            seq.Add(block);
        }
        if (hitBlocks.Count > 0 && hitBlocks[^1].Hash is not null) seq.NumCachedBlocks = hitBlocks.Count;
        seq.AddNew(Pool, numNew);
        return true;
    }

    /// <summary>
    /// After a step has run: registers the blocks that are now full and computed in the prefix cache. Caching only
    /// computed blocks means a hit never points at KV still being written.
    /// </summary>
    public void CacheComputedBlocks(Request request)
    {
        if (!EnablePrefixCaching || !_sequences.TryGetValue(request.RequestId, out var seq)) return;
        int numFull = Math.Min(request.NumComputedTokens, request.NumTokens) / BlockSize;
        if (numFull <= seq.NumCachedBlocks) return;
        EnsureHashes(request, numFull);
        var hashes = request.BlockHashes;
        int run = -1; // first block of the current run of newly stored blocks, one BlockStored per run
        for (int i = seq.NumCachedBlocks; i < numFull; i++)
        {
            if (Pool.Cache(seq.Blocks[i], hashes[i], i == 0 ? null : hashes[i - 1]))
            {
                if (run < 0) run = i;
                continue;
            }
            if (run >= 0) LogStored(request, run, i);
            run = -1;
        }
        if (run >= 0) LogStored(request, run, numFull);
        seq.NumCachedBlocks = numFull;
    }

    /// <summary>Records that blocks [start, end) of the request entered the cache (no-op unless events are on).</summary>
    private void LogStored(Request request, int start, int end)
    {
        if (_events is null) return;
        var hashes = new BlockHash[end - start];
        for (int i = 0; i < hashes.Length; i++) hashes[i] = request.BlockHashes[start + i];
        var tokens = request.AllTokenIds.Slice(start * BlockSize, (end - start) * BlockSize).ToArray();
        _events.Stored(new BlockStored(hashes, start == 0 ? null : request.BlockHashes[start - 1], tokens, BlockSize));
    }

    /// <summary>
    /// Shrinks the request's computed length to <paramref name="numComputedTokens"/> (speculative tokens rejected):
    /// releases the blocks past it (last first) and takes out of the prefix cache the blocks no longer full of
    /// computed tokens, so its table and cache entries are those of never having computed the rest. Throws, changing
    /// nothing, if the block that will be rewritten is shared (its KV is read by another request).
    /// </summary>
    public void RollBack(Request request, int numComputedTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(numComputedTokens);
        if (!_sequences.TryGetValue(request.RequestId, out var seq)) return;
        int keep = Math.Min(BlocksFor(numComputedTokens), seq.Blocks.Count);
        int full = numComputedTokens / BlockSize;
        if (keep > full && seq.Blocks[full].RefCount > 1)
            throw new InvalidOperationException(
                $"Cannot roll {request.RequestId} back to {numComputedTokens} tokens: block {seq.Blocks[full].BlockId} is shared and would be rewritten.");
        for (int i = seq.Blocks.Count - 1; i >= keep; i--)
        {
            var block = seq.Blocks[i];
            if (block.RefCount == 1) Pool.Uncache(block);
            Pool.Release(block);
        }
        seq.TruncateTo(keep);
        if (keep > full) Pool.Uncache(seq.Blocks[full]);
        seq.NumCachedBlocks = Math.Min(seq.NumCachedBlocks, full);
    }

    /// <summary>Releases every block of the request (last block first, so a prefix's tail is evicted before its head).</summary>
    public void Free(Request request)
    {
        if (!_sequences.Remove(request.RequestId, out var seq)) return;
        for (int i = seq.Blocks.Count - 1; i >= 0; i--) Pool.Release(seq.Blocks[i]);
    }

    /// <summary>Block ids of the request, in position order: element p / BlockSize holds position p.</summary>
    public ReadOnlySpan<int> GetBlockIds(Request request) =>
        _sequences.TryGetValue(request.RequestId, out var seq) ? seq.BlockIds.AsSpan(0, seq.Blocks.Count) : default;

    /// <summary>
    /// The request's block table buffer, reused across steps (its length may exceed the block count; entries past
    /// <see cref="NumBlocksOf"/> are stale). Hand it to the backend without copying.
    /// </summary>
    public int[] GetBlockTableBuffer(Request request) =>
        _sequences.TryGetValue(request.RequestId, out var seq) ? seq.BlockIds : [];

    public int NumBlocksOf(Request request) => _sequences.TryGetValue(request.RequestId, out var seq) ? seq.Blocks.Count : 0;

    public IReadOnlyList<KvBlock> GetBlocks(Request request) =>
        _sequences.TryGetValue(request.RequestId, out var seq) ? seq.Blocks : [];

    public int NumRequestsWithBlocks => _sequences.Count;

    /// <summary>Forget every free cached block (referenced ones stay cached).</summary>
    public void ResetPrefixCache() => Pool.ResetPrefixCache();

    /// <summary>Idle self-check: no request holds blocks and every block is free or cached with refcount 0.</summary>
    public void CheckIdle()
    {
        if (_sequences.Count != 0)
            throw new InvalidOperationException(
                $"KV cache self-check failed: engine idle but {_sequences.Count} request(s) still hold blocks: {string.Join(", ", _sequences.Keys.Take(8))}.");
        Pool.CheckIdle();
    }

    /// <summary>Cross-checks the pool against the per-request block lists: each block's refcount equals its holders.</summary>
    public void CheckConsistency()
    {
        Pool.CheckConsistency();
        var holders = new int[NumBlocks];
        foreach (var seq in _sequences.Values)
            foreach (var block in seq.Blocks) holders[block.BlockId]++;
        for (int i = 0; i < NumBlocks; i++)
            if (Pool[i].RefCount != holders[i])
                throw new InvalidOperationException($"KV block {i} has refcount {Pool[i].RefCount} but {holders[i]} request(s) hold it.");
    }

    private void EnsureHashes(Request request, int numBlocks)
    {
        var hashes = request.BlockHashes;
        var tokens = request.AllTokenIds;
        for (int i = hashes.Count; i < numBlocks; i++)
        {
            var parent = i == 0 ? request.RootHash : hashes[i - 1];
            hashes.Add(BlockHash.Compute(parent, tokens.Slice(i * BlockSize, BlockSize)));
        }
    }

    private sealed class SequenceBlocks
    {
        public List<KvBlock> Blocks { get; } = [];
        public int[] BlockIds { get; private set; } = new int[4]; // [capacity] block id per block index
        /// <summary>Leading blocks already registered in the prefix cache.</summary>
        public int NumCachedBlocks { get; set; }

        public void Add(KvBlock block)
        {
            if (Blocks.Count == BlockIds.Length)
            {
                var grown = new int[BlockIds.Length * 2];
                BlockIds.CopyTo(grown, 0);
                BlockIds = grown;
            }
            BlockIds[Blocks.Count] = block.BlockId;
            Blocks.Add(block);
        }

        public void TruncateTo(int count) => Blocks.RemoveRange(count, Blocks.Count - count);

        public void AddNew(BlockPool pool, int count)
        {
            for (int i = 0; i < count; i++) Add(pool.Allocate());
        }
    }
}
