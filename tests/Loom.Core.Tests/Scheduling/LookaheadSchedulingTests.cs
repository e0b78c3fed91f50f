using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

/// <summary>
/// num_lookahead_tokens (a draft model's KV slots past the scheduled tokens): each running request holds blocks for its
/// context plus the lookahead, never past prompt + max_tokens (what intake checked fits); drafts with random accepted
/// lengths still give the output of plain decoding; everything is freed at the end.
/// </summary>
public class LookaheadSchedulingTests
{
    [Theory]
    [InlineData(4, 3, 64)]
    [InlineData(16, 4, 512)]
    [InlineData(4, 5, 7)]   // chunked prompts: lookahead on every chunk
    public void Blocks_cover_the_lookahead_but_never_past_the_request(int blockSize, int lookahead, int budget)
    {
        var scheduler = new Scheduler(new SchedulerConfig
        {
            BlockSize = blockSize, NumBlocks = 256, MaxNumBatchedTokens = budget, NumLookaheadTokens = lookahead, MaxModelLen = 256,
        });
        var random = new Random(blockSize * 31 + lookahead);
        var engine = new SimulatedEngine(scheduler) { Drafter = (_, _) => [.. Enumerable.Range(0, random.Next(lookahead + 1)).Select(_ => random.Next(50))] };
        var requests = Enumerable.Range(0, 6).Select(i => new Request($"r{i}", [.. Enumerable.Range(1, 5 + 7 * i)], new SamplingParams { MaxTokens = 9 + i })).ToArray();
        foreach (var r in requests) scheduler.AddRequest(r);
        engine.WhileRunning = output =>
        {
            foreach (var s in output.Scheduled)
            {
                var r = s.Request;
                int most = r.NumPromptTokens + r.Params.MaxTokens;
                int wanted = Math.Min(s.ContextLength + lookahead, most);
                Assert.Equal(scheduler.KvCache.BlocksFor(Math.Max(wanted, s.ContextLength)), scheduler.KvCache.NumBlocksOf(r));
            }
        };
        engine.RunToCompletion();
        scheduler.CheckIdle();
        Assert.Equal(256, scheduler.KvCache.Pool.NumFreeBlocks);
        foreach (var r in requests) Assert.Equal(r.Params.MaxTokens, r.NumOutputTokens);
    }

    [Fact]
    public void A_negative_lookahead_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => new Scheduler(new SchedulerConfig { NumBlocks = 4, NumLookaheadTokens = -1 }));
        Assert.Equal("num_lookahead_tokens", e.ParamName);
    }
}
