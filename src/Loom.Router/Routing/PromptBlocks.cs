using Loom.Core.KvCache;

namespace Loom.Router.Routing;

/// <summary>
/// A prompt as the replicas' prefix cache sees it: the chained hash of each full block (Loom.Core's <see cref="BlockHash"/>,
/// from the cache_salt's root), so "replica holds block i" means it holds the whole prefix up to block i.
/// </summary>
/// <param name="Hashes">One per full block of the prompt: what the replica holds once the prompt is prefilled.</param>
/// <param name="MatchableBlocks">Blocks a cache hit can cover: a replica always computes the prompt's last token, so a
/// prompt of n tokens hits at most (n - 1) / block_size blocks, as the scheduler's KV cache manager counts.</param>
public sealed record PromptBlocks(BlockHash[] Hashes, int MatchableBlocks)
{
    public static PromptBlocks None { get; } = new([], 0);

    public static PromptBlocks Of(ReadOnlySpan<int> promptTokens, int blockSize, string? cacheSalt = null)
    {
        if (blockSize < 1) throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "The block size must be at least 1.");
        if (promptTokens.IsEmpty) return None;
        var hashes = new BlockHash[promptTokens.Length / blockSize];
        var parent = cacheSalt is null ? BlockHash.Root : BlockHash.ForSalt(cacheSalt);
        for (int i = 0; i < hashes.Length; i++)
            parent = hashes[i] = BlockHash.Compute(parent, promptTokens.Slice(i * blockSize, blockSize));
        return new PromptBlocks(hashes, (promptTokens.Length - 1) / blockSize);
    }
}
