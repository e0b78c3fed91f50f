using CsCheck;
using Loom.Core.KvCache;
using Loom.Router.Routing;

namespace Loom.Router.Tests.Routing;

public sealed class PrefixIndexTests
{
    private static int[] Tokens(int count, int seed) => [.. Enumerable.Range(0, count).Select(i => (i * 31 + seed * 7919) % 5000)];

    [Fact]
    public void Prompt_blocks_chain_as_the_replicas_cache_does()
    {
        var tokens = Tokens(40, 1);
        var blocks = PromptBlocks.Of(tokens, 16);
        Assert.Equal(2, blocks.Hashes.Length);
        Assert.Equal(2, blocks.MatchableBlocks); // (40 - 1) / 16
        Assert.Equal(BlockHash.Compute(BlockHash.Root, tokens.AsSpan(0, 16)), blocks.Hashes[0]);
        Assert.Equal(BlockHash.Compute(blocks.Hashes[0], tokens.AsSpan(16, 16)), blocks.Hashes[1]);
        Assert.Equal(1, PromptBlocks.Of(tokens.AsSpan(0, 32), 16).MatchableBlocks); // the last token is always computed
        Assert.NotEqual(blocks.Hashes[0], PromptBlocks.Of(tokens, 16, cacheSalt: "tenant-a").Hashes[0]);
    }

    [Fact]
    public void Longest_match_is_the_shared_prefix_in_whole_blocks()
    {
        Gen.Select(Gen.Int[0, 80], Gen.Int[0, 80], Gen.Int[1, 8]).Sample((shared, extra, blockSize) =>
        {
            var a = Tokens(shared + extra, 1);
            var b = a.Take(shared).Concat(Tokens(extra + 1, 2).Select(t => t + 5000)).ToArray();
            var index = new PrefixIndex(1 << 16);
            index.Add(PromptBlocks.Of(a, blockSize).Hashes);
            Assert.Equal(Math.Min(shared / blockSize, b.Length / blockSize), index.LongestMatch(PromptBlocks.Of(b, blockSize).Hashes));
            Assert.Equal(a.Length / blockSize, index.LongestMatch(PromptBlocks.Of(a, blockSize).Hashes));
        }, iter: 300, threads: 1);
    }

    [Fact]
    public void Past_its_capacity_the_index_forgets_the_least_recently_routed_leaves_first()
    {
        var index = new PrefixIndex(capacity: 4);
        var a = PromptBlocks.Of(Tokens(48, 1), 16).Hashes; // 3 blocks
        var b = PromptBlocks.Of(Tokens(32, 2), 16).Hashes; // 2 blocks
        index.Add(a);
        index.Add(b);
        Assert.Equal(4, index.Count);
        Assert.Equal(2, index.LongestMatch(a)); // a's deepest block went first; its prefix is still there
        Assert.Equal(2, index.LongestMatch(b));
        index.Clear();
        Assert.Equal(0, index.LongestMatch(b));
    }
}
