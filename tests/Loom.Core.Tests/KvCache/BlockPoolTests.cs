using Loom.Core.KvCache;

namespace Loom.Core.Tests.KvCache;

public class BlockPoolTests
{
    [Fact]
    public void HandsOutLeastRecentlyFreedBlockFirst()
    {
        var pool = new BlockPool(3);
        var a = pool.Allocate();
        var b = pool.Allocate();
        var c = pool.Allocate();
        pool.Release(b);
        pool.Release(a);
        pool.Release(c);
        Assert.Equal([b.BlockId, a.BlockId, c.BlockId], new[] { pool.Allocate().BlockId, pool.Allocate().BlockId, pool.Allocate().BlockId });
    }

    [Fact]
    public void CachedFreeBlockIsRevivedByHitAndEvictedWhenReused()
    {
        var pool = new BlockPool(2);
        var block = pool.Allocate();
        var hash = BlockHash.Compute(BlockHash.Root, [1, 2, 3, 4]);
        pool.Cache(block, hash);
        pool.Release(block);
        Assert.Equal(2, pool.NumFreeBlocks);

        Assert.True(pool.TryGetCached(hash, out var hit));
        Assert.Same(block, hit);
        pool.Touch(hit); // out of the middle of the free queue
        Assert.Equal(1, pool.NumFreeBlocks);
        pool.CheckConsistency();
        pool.Release(hit);

        // The other block was freed earlier, so it goes first; the cached one is evicted only on the second allocation.
        var first = pool.Allocate();
        Assert.NotSame(block, first);
        Assert.True(pool.TryGetCached(hash, out _));
        var second = pool.Allocate();
        Assert.Same(block, second);
        Assert.False(pool.TryGetCached(hash, out _));
        Assert.Null(second.Hash);
        Assert.Equal(1, pool.NumEvictions);
    }

    [Fact]
    public void DuplicateContentKeepsFirstBlockCanonical()
    {
        var pool = new BlockPool(2);
        var hash = BlockHash.Compute(BlockHash.Root, [7, 7]);
        var a = pool.Allocate();
        var b = pool.Allocate();
        pool.Cache(a, hash);
        pool.Cache(b, hash);
        Assert.Equal(hash, a.Hash);
        Assert.Null(b.Hash);
        pool.CheckConsistency();
    }

    [Fact]
    public void ReleasingMoreThanReferencedThrows()
    {
        var pool = new BlockPool(1);
        var block = pool.Allocate();
        pool.Release(block);
        Assert.Throws<InvalidOperationException>(() => pool.Release(block));
    }

    [Fact]
    public void IdleCheckNamesHeldBlocks()
    {
        var pool = new BlockPool(4);
        var block = pool.Allocate();
        var ex = Assert.Throws<InvalidOperationException>(pool.CheckIdle);
        Assert.Contains($"{block.BlockId} (ref 1)", ex.Message);
        pool.Release(block);
        pool.CheckIdle();
    }

    [Fact]
    public void HashChainsTheParent()
    {
        var first = BlockHash.Compute(BlockHash.Root, [1, 2]);
        var other = BlockHash.Compute(BlockHash.Root, [9, 9]);
        Assert.NotEqual(BlockHash.Compute(first, [3, 4]), BlockHash.Compute(other, [3, 4]));
        Assert.Equal(BlockHash.Compute(first, [3, 4]), BlockHash.Compute(BlockHash.Compute(BlockHash.Root, [1, 2]), [3, 4]));
        // Large blocks take the pooled-buffer path and still hash deterministically.
        var big = Enumerable.Range(0, 1000).ToArray();
        Assert.Equal(BlockHash.Compute(first, big), BlockHash.Compute(first, big));
    }
}
