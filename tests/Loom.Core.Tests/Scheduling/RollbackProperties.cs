using CsCheck;
using Loom.Core.KvCache;
using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

/// <summary>
/// Rolling back k computed tokens (what rejecting speculative tokens will do) leaves the request's block table and
/// prefix-cache hashes equal to those of never having computed them, leaks nothing, and the request then finishes with
/// the tokens of an undisturbed run.
/// </summary>
public class RollbackProperties
{
    private static readonly int[] Prompt = [.. Enumerable.Range(0, 40).Select(i => i * 7 % 13)];

    [Fact]
    public void RollingBackKTokensEqualsNeverHavingComputedThem()
    {
        Gen.Select(Gen.Int[1, 6], Gen.Int[1, 40], Gen.Int[1, 16], Gen.Bool, Gen.Bool, Gen.Int[1, 12], Gen.Int[0, 1000])
            .Sample((blockSize, promptLength, budget, caching, warmCache, steps, kSeed) =>
                Run(blockSize, promptLength, budget, caching, warmCache, steps, kSeed), iter: 400, threads: 1);
    }

    private static void Run(int blockSize, int promptLength, int budget, bool caching, bool warmCache, int steps, int kSeed)
    {
        var config = new SchedulerConfig { BlockSize = blockSize, NumBlocks = 80 / blockSize + 2, MaxNumBatchedTokens = budget, EnablePrefixCaching = caching };
        var scheduler = new Scheduler(config);
        var engine = new SimulatedEngine(scheduler);
        var prompt = Prompt[..promptLength];
        if (warmCache) // an earlier identical prompt leaves cached blocks the request hits (refcount 1: still exclusive)
        {
            scheduler.AddRequest(new Request("earlier", prompt, new SamplingParams { MaxTokens = 1 }));
            engine.RunToCompletion();
        }
        var request = new Request("r", prompt, new SamplingParams { MaxTokens = 20 });
        scheduler.AddRequest(request);
        for (int i = 0; i < steps && !request.IsFinished; i++) engine.Step();
        if (request.IsFinished) return;

        int computed = request.NumComputedTokens;
        int k = kSeed % (computed + 1);
        var tableBefore = scheduler.KvCache.GetBlockIds(request).ToArray();
        var hashesBefore = scheduler.KvCache.GetBlocks(request).Select(b => b.Hash).ToArray();
        scheduler.RollBackComputedTokens("r", k);

        int kept = computed - k;
        Assert.Equal(kept, request.NumComputedTokens);
        var twin = NeverComputed(request.AllTokenIds, kept, blockSize, caching);
        var blocks = scheduler.KvCache.GetBlocks(request);
        Assert.Equal(twin.Count, blocks.Count);
        Assert.Equal(tableBefore[..blocks.Count], scheduler.KvCache.GetBlockIds(request).ToArray());
        // Blocks still full of computed tokens keep their cache entry; the others have none.
        Assert.Equal(hashesBefore[..blocks.Count].Select((h, i) => i < kept / blockSize ? h : null), blocks.Select(b => b.Hash));
        // Alone on the cache (no earlier copy of the prompt kept canonical elsewhere) they equal the twin's exactly.
        if (!warmCache) Assert.Equal(twin.Select(b => b.Hash), blocks.Select(b => b.Hash));
        scheduler.KvCache.CheckConsistency();
        Assert.Equal(blocks.Count, scheduler.KvCache.Pool.NumUsedBlocks); // released blocks went back, none leaked

        engine.RunToCompletion(); // recomputes the rolled-back tokens; CheckIdle: every refcount back to zero
        Assert.Equal(Undisturbed(prompt, config), request.OutputTokenIds.ToArray());
    }

    /// <summary>The same tokens on a fresh cache with only <paramref name="computed"/> of them ever computed.</summary>
    private static IReadOnlyList<KvBlock> NeverComputed(ReadOnlySpan<int> tokens, int computed, int blockSize, bool caching)
    {
        var kv = new KvCacheManager(80 / blockSize + 2, blockSize, caching);
        var twin = new Request("twin", tokens, new SamplingParams { MaxTokens = 20 });
        Assert.True(kv.TryAllocateSlots(twin, computed));
        twin.NumComputedTokens = computed;
        kv.CacheComputedBlocks(twin);
        return kv.GetBlocks(twin);
    }

    private static int[] Undisturbed(int[] prompt, SchedulerConfig config)
    {
        var scheduler = new Scheduler(config);
        var request = new Request("r", prompt, new SamplingParams { MaxTokens = 20 });
        scheduler.AddRequest(request);
        new SimulatedEngine(scheduler).RunToCompletion();
        return request.OutputTokenIds.ToArray();
    }

    [Fact]
    public void RollingBackIntoABlockAnotherRequestReadsIsRefused()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 32, BlockSize = 4, EnablePrefixCaching = false });
        var prompt = Enumerable.Range(1, 10).ToArray();
        var leader = new Request("r", prompt, new SamplingParams { MaxTokens = 5 });
        scheduler.AddRequest(leader);
        scheduler.AddRequest(new Request("r#1", prompt, new SamplingParams { MaxTokens = 5 }) { ForkSource = leader, SampleIndex = 1 });
        var engine = new SimulatedEngine(scheduler);
        engine.Step();
        engine.Step(); // the sibling shares the leader's two full prompt blocks
        var sibling = scheduler.Running.Single(r => r.RequestId == "r#1");
        int computed = sibling.NumComputedTokens;
        Assert.Throws<InvalidOperationException>(() => scheduler.RollBackComputedTokens("r#1", computed - 6));
        Assert.Equal(computed, sibling.NumComputedTokens);
        scheduler.KvCache.CheckConsistency();
        scheduler.RollBackComputedTokens("r#1", computed - 8); // back to the end of the shared blocks: nothing shared is rewritten
        engine.RunToCompletion();
    }
}
