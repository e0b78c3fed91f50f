using Loom.Core.KvCache;
using Loom.Core.Requests;
using Loom.Core.Sampling;

namespace Loom.Core.Tests.KvCache;

public class KvCacheManagerTests
{
    private static Request NewRequest(string id, int[] prompt, int maxTokens = 8) =>
        new(id, prompt, new SamplingParams { MaxTokens = maxTokens });

    /// <summary>Admits the request with whatever the cache offers and "runs" its whole prompt.</summary>
    private static ComputedBlocks Prefill(KvCacheManager kv, Request request)
    {
        var computed = kv.GetComputedBlocks(request);
        Assert.True(kv.TryAllocateSlots(request, request.NumTokens - computed.NumTokens, computed));
        request.NumComputedTokens = request.NumTokens;
        kv.CacheComputedBlocks(request);
        return computed;
    }

    [Fact]
    public void ReusesLongestCachedPrefixButNeverTheLastToken()
    {
        var kv = new KvCacheManager(numBlocks: 16, blockSize: 4, enablePrefixCaching: true);
        int[] prefix = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        var a = NewRequest("a", prefix);
        Assert.Equal(0, Prefill(kv, a).NumTokens);
        Assert.Equal(3, kv.NumBlocksOf(a));

        var b = NewRequest("b", [.. prefix, 11, 12, 13]);
        var hit = Prefill(kv, b);
        Assert.Equal(8, hit.NumTokens); // two full blocks of a; a's third block was partial, so never cached
        Assert.Equal(kv.GetBlockIds(a)[..2].ToArray(), kv.GetBlockIds(b)[..2].ToArray());
        Assert.Equal(2, kv.Pool[kv.GetBlockIds(a)[0]].RefCount);

        // A prompt that is exactly two cached blocks reuses only one: the last token must be computed for its logits.
        var c = NewRequest("c", prefix[..8]);
        Assert.Equal(4, Prefill(kv, c).NumTokens);

        Assert.Equal(10 + 13 + 8, kv.PrefixCacheQueries);
        Assert.Equal(8 + 4, kv.PrefixCacheHits);
        kv.CheckConsistency();
        foreach (var r in new[] { a, b, c }) kv.Free(r);
        kv.CheckIdle();
    }

    [Fact]
    public void CacheSaltSeparatesPrefixChains()
    {
        var kv = new KvCacheManager(numBlocks: 32, blockSize: 4, enablePrefixCaching: true);
        int[] prompt = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        Request Salted(string id, string? salt) => new(id, prompt, new SamplingParams { MaxTokens = 4 }) { CacheSalt = salt };

        Assert.Equal(0, Prefill(kv, Salted("a", "tenant-a")).NumTokens);
        Assert.Equal(8, Prefill(kv, Salted("a2", "tenant-a")).NumTokens); // same salt: shared
        Assert.Equal(0, Prefill(kv, Salted("b", "tenant-b")).NumTokens);  // other salt: never
        Assert.Equal(0, Prefill(kv, Salted("none", null)).NumTokens);     // unsalted chain is its own
        Assert.Equal(8, Prefill(kv, Salted("none2", null)).NumTokens);
        kv.CheckConsistency();
    }

    [Fact]
    public void SameBlockAfterDifferentPrefixIsNotAHit()
    {
        var kv = new KvCacheManager(16, 2, true);
        Prefill(kv, NewRequest("a", [1, 2, 3, 4, 5]));
        Assert.Equal(0, Prefill(kv, NewRequest("b", [9, 9, 3, 4, 5])).NumTokens);
    }

    [Fact]
    public void FreedCachedBlocksServeLaterRequests()
    {
        var kv = new KvCacheManager(8, 4, true);
        var a = NewRequest("a", [.. Enumerable.Range(0, 12)]);
        Prefill(kv, a);
        kv.Free(a);
        kv.CheckIdle(); // cached blocks with refcount 0 are idle
        var b = NewRequest("b", [.. Enumerable.Range(0, 12), 99]);
        Assert.Equal(12, Prefill(kv, b).NumTokens);
        Assert.Equal(b.NumTokens, b.NumComputedTokens);
    }

    [Fact]
    public void PrefixCachingOffNeverHits()
    {
        var kv = new KvCacheManager(16, 4, enablePrefixCaching: false);
        Prefill(kv, NewRequest("a", [.. Enumerable.Range(0, 12)]));
        Assert.Equal(0, Prefill(kv, NewRequest("b", [.. Enumerable.Range(0, 12)])).NumTokens);
        Assert.Equal(0, kv.Pool.NumCachedBlocks);
        Assert.Equal(0, kv.PrefixCacheQueries);
    }

    [Fact]
    public void FailedAllocationChangesNothing()
    {
        var kv = new KvCacheManager(3, 4, true);
        var a = NewRequest("a", [.. Enumerable.Range(0, 8)]);
        Prefill(kv, a);
        var b = NewRequest("b", [.. Enumerable.Range(100, 8)]);
        Assert.False(kv.TryAllocateSlots(b, 8));
        Assert.Equal(0, kv.NumBlocksOf(b));
        Assert.Equal(1, kv.Pool.NumFreeBlocks);
        kv.CheckConsistency();
    }

    [Fact]
    public void ForkedSampleSharesSourcePromptBlocks()
    {
        var kv = new KvCacheManager(16, 4, enablePrefixCaching: false);
        var prompt = Enumerable.Range(0, 10).ToArray();
        var source = NewRequest("r", prompt);
        Prefill(kv, source);
        var sibling = new Request("r#1", prompt, new SamplingParams()) { ForkSource = source, SampleIndex = 1 };
        var shared = Prefill(kv, sibling);
        Assert.Equal(8, shared.NumTokens);
        // 3 blocks for the source; the sibling adds only its own tail block.
        Assert.Equal(4, kv.Pool.NumUsedBlocks);
        Assert.All(kv.GetBlocks(source).Take(2), b => Assert.Equal(2, b.RefCount));
        kv.Free(source);
        kv.Free(sibling);
        kv.CheckIdle();
    }

    [Fact]
    public void IdleCheckFailsWhileARequestHoldsBlocks()
    {
        var kv = new KvCacheManager(4, 4, true);
        Prefill(kv, NewRequest("held", [1, 2, 3]));
        var ex = Assert.Throws<InvalidOperationException>(kv.CheckIdle);
        Assert.Contains("held", ex.Message);
    }
}
