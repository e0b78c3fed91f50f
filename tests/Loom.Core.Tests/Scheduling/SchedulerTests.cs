using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

public class SchedulerTests
{
    private static Request NewRequest(string id, int promptLength, int maxTokens = 4, int priority = 0, int firstToken = 1) =>
        new(id, Enumerable.Range(firstToken, promptLength).ToArray(), new SamplingParams { MaxTokens = maxTokens }, priority);

    [Fact]
    public void ChunksLongPromptUnderTokenBudgetThenDecodes()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4, MaxNumBatchedTokens = 32 });
        var request = NewRequest("long", 100, maxTokens: 3);
        scheduler.AddRequest(request);
        var engine = new SimulatedEngine(scheduler);
        var chunks = new List<(int Tokens, bool Samples)>();
        while (scheduler.HasUnfinishedRequests)
            chunks.AddRange(engine.Step().Scheduled.Select(s => (s.NumNewTokens, s.SamplesToken)));
        Assert.Equal([(32, false), (32, false), (32, false), (4, true), (1, true), (1, true)], chunks);
        Assert.Equal(RequestStatus.FinishedLength, request.Status);
        Assert.Equal(3, request.NumOutputTokens);
        scheduler.CheckIdle();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // chunked prefill off: a prompt-scoring request is still chunked (its rows are a vocabulary each)
    public void PromptScoringRequestsAreChunkedToTheirRowCap(bool chunkedPrefill)
    {
        var scheduler = new Scheduler(new SchedulerConfig
        {
            NumBlocks = 64, BlockSize = 4, MaxNumBatchedTokens = 32, EnableChunkedPrefill = chunkedPrefill,
        });
        var scored = new Request("scored", Enumerable.Range(1, 20).ToArray(), new SamplingParams { MaxTokens = 2, PromptLogprobs = 1 })
        {
            MaxTokensPerStep = 7, // what the engine sets for prompt_logprobs: each position costs a vocabulary-sized row
        };
        scheduler.AddRequest(scored);
        scheduler.AddRequest(NewRequest("plain", 20, maxTokens: 2, firstToken: 100));
        var engine = new SimulatedEngine(scheduler);
        var chunks = new List<(string Id, int Tokens)>();
        while (scheduler.HasUnfinishedRequests)
            chunks.AddRange(engine.Step().Scheduled.Select(s => (s.RequestId, s.NumNewTokens)));

        Assert.Equal([7, 7, 6, 1], chunks.Where(c => c.Id == "scored").Select(c => c.Tokens));
        Assert.Equal(20, chunks.First(c => c.Id == "plain").Tokens); // the cap is not a budget for others
        scheduler.CheckIdle();
    }

    [Fact]
    public void RunningDecodesGoFirstAndWaitingPrefillTakesTheRest()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4, MaxNumBatchedTokens = 10 });
        var engine = new SimulatedEngine(scheduler);
        scheduler.AddRequest(NewRequest("a", 5, maxTokens: 10));
        engine.Step();
        scheduler.AddRequest(NewRequest("b", 30, maxTokens: 2));
        var step = engine.Step();
        Assert.Equal([("a", 1), ("b", 9)], step.Scheduled.Select(s => (s.RequestId, s.NumNewTokens)));
    }

    [Fact]
    public void NumDecodingCountsTheRunningRequestsThatHaveAToken()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4, MaxNumBatchedTokens = 10 });
        var engine = new SimulatedEngine(scheduler);
        scheduler.AddRequest(NewRequest("a", 5, maxTokens: 10));
        scheduler.AddRequest(NewRequest("b", 30, maxTokens: 2, firstToken: 100));
        engine.Step(); // a's prompt and its first token; b's first chunk
        Assert.Equal((2, 1), (scheduler.NumRunning, scheduler.NumDecoding));
        while (scheduler.Running.Any(r => r.NumOutputTokens == 0)) engine.Step();
        Assert.Equal(2, scheduler.NumDecoding);
        engine.RunToCompletion();
        Assert.Equal(0, scheduler.NumDecoding);
    }

    [Fact]
    public void WithChunkedPrefillOffAPromptWaitsUntilItFitsWhole()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4, MaxNumBatchedTokens = 20, EnableChunkedPrefill = false });
        var engine = new SimulatedEngine(scheduler);
        scheduler.AddRequest(NewRequest("a", 12, maxTokens: 3));
        scheduler.AddRequest(NewRequest("b", 12, maxTokens: 3, firstToken: 100));
        var first = engine.Step();
        Assert.Equal(["a"], first.Scheduled.Select(s => s.RequestId));
        var second = engine.Step();
        Assert.Equal([("a", 1), ("b", 12)], second.Scheduled.Select(s => (s.RequestId, s.NumNewTokens)));
        engine.RunToCompletion();
    }

    [Fact]
    public void MaxNumSeqsCapsRunningRequests()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4, MaxNumSeqs = 2 });
        for (int i = 0; i < 5; i++) scheduler.AddRequest(NewRequest($"r{i}", 3));
        var engine = new SimulatedEngine(scheduler);
        Assert.Equal(2, engine.Step().Scheduled.Count);
        Assert.Equal(2, scheduler.NumRunning);
        Assert.Equal(3, scheduler.NumWaiting);
        engine.RunToCompletion();
        Assert.Equal(5, engine.Finished.Count);
    }

    [Fact]
    public void TinyCachePreemptsMostRecentArrivalAndEverythingFinishes()
    {
        // 6 blocks of 4 tokens; each request needs up to 4 blocks, so two cannot decode side by side for long.
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 6, BlockSize = 4, MaxNumBatchedTokens = 64 });
        var requests = Enumerable.Range(0, 3).Select(i => NewRequest($"r{i}", 8, maxTokens: 8, firstToken: 10 * i)).ToArray();
        foreach (var r in requests) scheduler.AddRequest(r);
        var engine = new SimulatedEngine(scheduler);
        var preempted = new List<string>();
        while (scheduler.HasUnfinishedRequests)
            preempted.AddRange(engine.Step().PreemptedRequestIds);
        Assert.NotEmpty(preempted);
        Assert.DoesNotContain("r0", preempted); // the oldest is never the victim while others run
        Assert.All(requests, r => Assert.Equal(RequestStatus.FinishedLength, r.Status));
        // Recomputation after preemption reproduces the same tokens as an undisturbed run.
        foreach (var r in requests)
        {
            var alone = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4 });
            var copy = NewRequest(r.RequestId, 8, maxTokens: 8, firstToken: r.PromptTokenIds[0]);
            alone.AddRequest(copy);
            new SimulatedEngine(alone).RunToCompletion();
            Assert.Equal(copy.OutputTokenIds.ToArray(), r.OutputTokenIds.ToArray());
        }
        scheduler.CheckIdle();
    }

    [Fact]
    public void PrioritySchedulingRunsLowerNumberFirstAndFcfsWithinALevel()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4, MaxNumSeqs = 1, PriorityScheduling = true });
        scheduler.AddRequest(NewRequest("late-low", 3, priority: 5));
        scheduler.AddRequest(NewRequest("high-1", 3, priority: 0));
        scheduler.AddRequest(NewRequest("high-2", 3, priority: 0));
        var engine = new SimulatedEngine(scheduler);
        var order = new List<string>();
        while (scheduler.HasUnfinishedRequests)
            foreach (var s in engine.Step().Scheduled)
                if (s.StartPosition == 0) order.Add(s.RequestId);
        Assert.Equal(["high-1", "high-2", "late-low"], order);
    }

    [Fact]
    public void PriorityPreemptsLowestPriorityFirst()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 6, BlockSize = 4, PriorityScheduling = true });
        var low = NewRequest("low", 8, maxTokens: 8, priority: 9);
        var high = NewRequest("high", 8, maxTokens: 8, priority: 1, firstToken: 50);
        scheduler.AddRequest(low);
        var engine = new SimulatedEngine(scheduler);
        engine.Step();
        scheduler.AddRequest(high);
        var preempted = new List<string>();
        while (scheduler.HasUnfinishedRequests) preempted.AddRange(engine.Step().PreemptedRequestIds);
        Assert.NotEmpty(preempted);
        Assert.DoesNotContain("high", preempted);
    }

    [Theory]
    [InlineData(60, 5, "max_tokens")]   // over max_model_len
    [InlineData(64, 1, "prompt")]       // prompt alone reaches max_model_len
    [InlineData(30, 20, "max_tokens")]  // over the whole cache (12 blocks of 4 = 48 tokens)
    [InlineData(2, int.MaxValue, "max_tokens")] // prompt + max_tokens wrapped in int arithmetic and passed
    [InlineData(1, int.MaxValue - 1, "max_tokens")]
    public void RequestThatCanNeverFitIsRejectedAtIntake(int prompt, int maxTokens, string field)
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 12, BlockSize = 4, MaxModelLen = 64 });
        var ex = Assert.Throws<RequestRejectedException>(() => scheduler.AddRequest(NewRequest("x", prompt, maxTokens)));
        Assert.Equal(field, ex.ParamName);
        Assert.False(scheduler.HasUnfinishedRequests);
    }

    [Fact]
    public void HugeMaxTokensReservesOnlyWhatIsProduced()
    {
        // The buffer grows with the output: max_tokens is a limit, not a reservation (it used to allocate 8 GiB and throw).
        var request = new Request("x", [1, 2, 3], new SamplingParams { MaxTokens = int.MaxValue });
        Assert.Equal(3, request.NumTokens);
    }

    [Fact]
    public void DuplicateRequestIdIsRejected()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 12 });
        scheduler.AddRequest(NewRequest("x", 3));
        Assert.Equal("request_id", Assert.Throws<ArgumentException>(() => scheduler.AddRequest(NewRequest("x", 3))).ParamName);
    }

    [Fact]
    public void AbortFreesBlocksAtOnceAndIsReportedNextStep()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 16, BlockSize = 4, EnablePrefixCaching = false });
        var request = NewRequest("a", 10, maxTokens: 8);
        scheduler.AddRequest(request);
        var engine = new SimulatedEngine(scheduler);
        engine.Step();
        Assert.Equal(3, scheduler.KvCache.Pool.NumUsedBlocks);
        Assert.True(scheduler.FinishRequest("a", RequestStatus.FinishedAborted));
        Assert.Equal(0, scheduler.KvCache.Pool.NumUsedBlocks);
        Assert.Equal(FinishReason.Abort, request.Status.FinishReason());
        Assert.Equal(["a"], scheduler.Schedule().FinishedRequestIds);
        Assert.False(scheduler.FinishRequest("a", RequestStatus.FinishedAborted));
        scheduler.CheckIdle();
    }

    [Fact]
    public void PrefixCacheHitIsReportedAsCachedTokens()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 32, BlockSize = 4 });
        var engine = new SimulatedEngine(scheduler);
        var first = NewRequest("first", 20, maxTokens: 2);
        scheduler.AddRequest(first);
        engine.RunToCompletion();
        var second = new Request("second", [.. first.PromptTokenIds, 77, 78], new SamplingParams { MaxTokens = 2 });
        scheduler.AddRequest(second);
        var step = engine.Step();
        Assert.Equal(20, second.NumCachedTokens);
        Assert.Equal(2, step.Scheduled.Single().NumNewTokens);
        engine.RunToCompletion();
    }

    [Fact]
    public void ParallelSamplesSharePromptBlocks()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 32, BlockSize = 4, EnablePrefixCaching = false });
        var prompt = Enumerable.Range(1, 10).ToArray();
        var leader = new Request("r", prompt, new SamplingParams { MaxTokens = 5 });
        scheduler.AddRequest(leader);
        for (int i = 1; i < 3; i++)
            scheduler.AddRequest(new Request($"r#{i}", prompt, new SamplingParams { MaxTokens = 5 }) { ForkSource = leader, SampleIndex = i });
        var engine = new SimulatedEngine(scheduler);
        Assert.Equal(["r"], engine.Step().Scheduled.Select(s => s.RequestId)); // siblings wait for the prompt
        var second = engine.Step();
        Assert.Equal([("r", 1), ("r#1", 2), ("r#2", 2)], second.Scheduled.Select(s => (s.RequestId, s.NumNewTokens)));
        // Leader: 3 blocks (2 full prompt blocks + tail). Each sibling: the 2 shared blocks + its own tail block.
        Assert.Equal(3 + 1 + 1, scheduler.KvCache.Pool.NumUsedBlocks);
        Assert.Equal(3, scheduler.KvCache.Pool[scheduler.KvCache.GetBlockIds(leader)[0]].RefCount);
        engine.RunToCompletion();
    }
}
