namespace Loom.Core.KvCache;

/// <summary>
/// Bookkeeping for one physical KV block (the tensors live in the backend). Doubles as a node of the
/// <see cref="FreeBlockQueue"/> so a cache hit can pull a free block out of the middle of the queue in O(1).
/// </summary>
public sealed class KvBlock
{
    internal KvBlock(int blockId) => BlockId = blockId;

    public int BlockId { get; }

    /// <summary>Number of sequences whose block table holds this block; 0 means it sits in the free queue.</summary>
    public int RefCount { get; internal set; }

    /// <summary>Set while the block is full and registered in the prefix cache; null otherwise.</summary>
    public BlockHash? Hash { get; internal set; }

    /// <summary>While cached: the previous block's hash in its chain (null for a chain's first block).</summary>
    public BlockHash? ParentHash { get; internal set; }

    // Free-queue links; both null while the block is referenced.
    internal KvBlock? PrevFree;
    internal KvBlock? NextFree;

    public override string ToString() => $"Block {BlockId} (ref {RefCount}{(Hash is null ? "" : ", cached")})";
}
