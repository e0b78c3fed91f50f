using CsCheck;
using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

/// <summary>
/// "Finished but blocks held" (what a prefill node does until a decode node has pulled a prompt's KV): a holding request
/// finishes like any other, keeps exactly the blocks it had, other requests keep running around it, and releasing the
/// holds in any order returns every refcount to zero.
/// </summary>
public class HeldBlocksProperties
{
    [Fact]
    public void HeldBlocksStayExactUntilReleasedThenNothingLeaks()
    {
        Gen.Select(Gen.Int[1, 6], Gen.Int[1, 8], Gen.Bool, Gen.Int[0, 1 << 16], Gen.Int[0, 1000])
            .Sample((blockSize, numRequests, caching, holdMask, releaseSeed) =>
                Run(blockSize, numRequests, caching, holdMask, releaseSeed), iter: 300, threads: 1);
    }

    private static void Run(int blockSize, int numRequests, bool caching, int holdMask, int releaseSeed)
    {
        var config = new SchedulerConfig { BlockSize = blockSize, NumBlocks = 400 / blockSize + 8, MaxNumBatchedTokens = 16, EnablePrefixCaching = caching };
        var scheduler = new Scheduler(config);
        var engine = new SimulatedEngine(scheduler);
        var requests = Enumerable.Range(0, numRequests).Select(i => new Request($"r{i}", Prompt(i), new SamplingParams { MaxTokens = 1 + i % 4 })
        {
            HoldsBlocksWhenFinished = (holdMask >> i & 1) == 1,
        }).ToArray();
        foreach (var r in requests) scheduler.AddRequest(r);
        engine.RunToCompletion();

        var held = requests.Where(r => r.HoldsBlocksWhenFinished).ToArray();
        Assert.Equal(held.Length, scheduler.NumHoldingBlocks);
        foreach (var r in requests)
        {
            Assert.True(r.IsFinished);
            // Every token but the last sampled one has KV; a holding request keeps blocks covering all of it.
            int expected = r.HoldsBlocksWhenFinished ? scheduler.KvCache.BlocksFor(r.NumTokens - 1) : 0;
            Assert.Equal(expected, scheduler.KvCache.NumBlocksOf(r));
            if (r.HoldsBlocksWhenFinished) Assert.Equal(expected, scheduler.HeldBlockIds(r.RequestId).Length);
        }
        scheduler.CheckIdle(); // consistent: the pool's refcounts are exactly the holders'

        var rng = new Random(releaseSeed);
        foreach (var r in held.OrderBy(_ => rng.Next()))
        {
            Assert.True(scheduler.ReleaseHeldBlocks(r.RequestId));
            Assert.False(scheduler.ReleaseHeldBlocks(r.RequestId));
            scheduler.CheckIdle();
        }
        Assert.Equal(0, scheduler.NumHoldingBlocks);
        scheduler.KvCache.CheckIdle();
    }

    [Fact]
    public void An_aborted_holding_request_frees_its_blocks_at_once()
    {
        var scheduler = new Scheduler(new SchedulerConfig { BlockSize = 4, NumBlocks = 16, MaxNumBatchedTokens = 64 });
        var engine = new SimulatedEngine(scheduler);
        var request = new Request("r", Prompt(3), new SamplingParams { MaxTokens = 20 }) { HoldsBlocksWhenFinished = true };
        scheduler.AddRequest(request);
        engine.Step();
        Assert.True(scheduler.FinishRequest("r", RequestStatus.FinishedAborted));
        Assert.Equal(0, scheduler.NumHoldingBlocks);
        scheduler.KvCache.CheckIdle();
    }

    [Fact]
    public void A_new_request_cannot_take_the_id_of_one_still_holding_blocks()
    {
        var scheduler = new Scheduler(new SchedulerConfig { BlockSize = 4, NumBlocks = 16, MaxNumBatchedTokens = 64 });
        scheduler.AddRequest(new Request("r", Prompt(1), new SamplingParams { MaxTokens = 1 }) { HoldsBlocksWhenFinished = true });
        new SimulatedEngine(scheduler).RunToCompletion();
        var error = Assert.Throws<ArgumentException>(() => scheduler.AddRequest(new Request("r", Prompt(1), new SamplingParams { MaxTokens = 1 })));
        Assert.Contains("holds its KV blocks", error.Message);
        scheduler.ReleaseHeldBlocks("r");
        scheduler.AddRequest(new Request("r", Prompt(1), new SamplingParams { MaxTokens = 1 }));
    }

    /// <summary>Prompts that share a prefix, so holds and prefix-cache sharing meet.</summary>
    private static int[] Prompt(int i) => [.. Enumerable.Range(0, 6 + i * 5 % 17).Select(k => k < 5 ? k : (k * 31 + i) % 97)];
}
