namespace Loom.Core.KvCache;

/// <summary>
/// A change to the set of blocks in the prefix cache, in vLLM's KV event semantics (vllm.distributed.kv_events), so a
/// router replaying a replica's events holds exactly the hashes the replica can serve as cache hits.
/// </summary>
public abstract record KvCacheEvent;

/// <summary>
/// Consecutive full blocks of one chain entered the prefix cache (vLLM's BlockStored).
/// </summary>
/// <param name="BlockHashes">The blocks' chain hashes, in position order.</param>
/// <param name="ParentBlockHash">The hash of the block before the first one; null when the first block opens its chain
/// (its parent is the chain root: zero, or a cache_salt's root).</param>
/// <param name="TokenIds">The tokens of every stored block, BlockHashes.Count * BlockSize of them.</param>
/// <param name="BlockSize">Tokens per block.</param>
public sealed record BlockStored(BlockHash[] BlockHashes, BlockHash? ParentBlockHash, int[] TokenIds, int BlockSize) : KvCacheEvent;

/// <summary>Blocks left the prefix cache: evicted for new content, or their content is about to change (vLLM's BlockRemoved).</summary>
public sealed record BlockRemoved(BlockHash[] BlockHashes) : KvCacheEvent;

/// <summary>The prefix cache was emptied (vLLM's AllBlocksCleared).</summary>
public sealed record AllBlocksCleared : KvCacheEvent
{
    public static AllBlocksCleared Instance { get; } = new();
}

/// <summary>One cached block as a snapshot lists it: its hash and its parent's (null when it opens its chain).</summary>
public readonly record struct CachedBlock(BlockHash BlockHash, BlockHash? ParentBlockHash);
