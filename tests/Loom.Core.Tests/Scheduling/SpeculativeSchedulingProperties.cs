using CsCheck;
using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

/// <summary>
/// Speculative decoding seen from the scheduler, with drafts of random length and random accepted length: after every
/// step the request's computed length, block count, prefix-cache hashes and the pool's free count equal those of a run
/// without speculation at the same number of tokens (block ids may differ: blocks released after a rejection go back to
/// the free queue's tail); the outputs are the same; KV reads stay correct under preemption and prefix caching; and
/// aborting requests while a verification step runs leaks no block.
/// </summary>
public class SpeculativeSchedulingProperties
{
    /// <summary>Drafts of random length: the first <c>accepted</c> are the fake model's true continuation, the rest wrong.</summary>
    private static Func<Request, IReadOnlyList<int>, int[]> RandomDrafter(int seed, int maxDrafts)
    {
        var random = new Random(seed);
        return (request, tokens) =>
        {
            int length = random.Next(maxDrafts + 1), accepted = random.Next(length + 1);
            var chain = new List<int>(tokens);
            var drafts = new int[length];
            for (int j = 0; j < length; j++)
            {
                int next = SimulatedEngine.NextToken(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(chain), request.SampleIndex);
                drafts[j] = j < accepted ? next : (next + 1 + random.Next(40)) % 50;
                chain.Add(drafts[j]);
            }
            return drafts;
        };
    }

    private sealed record State(int NumComputed, int NumBlocks, string Hashes, int NumFree);

    private static State StateOf(Scheduler scheduler, Request request) => new(request.NumComputedTokens, scheduler.KvCache.NumBlocksOf(request),
        string.Join(",", scheduler.KvCache.GetBlocks(request).Select(b => b.Hash?.ToString() ?? "-")), scheduler.KvCache.Pool.NumFreeBlocks);

    /// <summary>Runs one request to the end; returns its state after every step that gave it tokens, by token count.</summary>
    private static (Dictionary<int, State> States, int[] Output) RunOne(int blockSize, int budget, bool caching, int[] prompt,
        Func<Request, IReadOnlyList<int>, int[]>? drafter)
    {
        var scheduler = new Scheduler(new SchedulerConfig
        {
            BlockSize = blockSize, NumBlocks = 160 / blockSize + 2, MaxNumBatchedTokens = budget, EnablePrefixCaching = caching,
        });
        var engine = new SimulatedEngine(scheduler) { Drafter = drafter };
        var request = new Request("r", prompt, new SamplingParams { MaxTokens = 40 });
        scheduler.AddRequest(request);
        var states = new Dictionary<int, State>();
        while (!request.IsFinished)
        {
            engine.Step();
            if (engine.LastUpdates.Length > 0 && !request.IsFinished) states[request.NumTokens] = StateOf(scheduler, request);
        }
        scheduler.CheckIdle();
        return (states, request.OutputTokenIds.ToArray());
    }

    [Fact]
    public void After_rejections_the_cache_state_equals_a_run_without_speculation()
    {
        Gen.Select(Gen.Int[1, 6], Gen.Int[1, 16], Gen.Bool, Gen.Int[1, 40], Gen.Int[1, 6], Gen.Int[0, 10_000])
            .Sample((blockSize, budget, caching, promptLength, maxDrafts, seed) =>
            {
                var prompt = Enumerable.Range(0, promptLength).Select(i => (i * 7 + seed) % 13).ToArray();
                var plain = RunOne(blockSize, budget, caching, prompt, null);
                var spec = RunOne(blockSize, budget, caching, prompt, RandomDrafter(seed, maxDrafts));
                Assert.Equal(plain.Output, spec.Output);
                foreach (var (numTokens, state) in spec.States) Assert.Equal(plain.States[numTokens], state);
            }, iter: 150, threads: 1);
    }

    [Fact]
    public void Many_requests_with_preemption_and_aborts_mid_verification_leak_nothing()
    {
        long preemptions = 0, accepted = 0, rejected = 0;
        Gen.Select(Gen.Int[1, 4], Gen.Int[4, 32], Gen.Bool, Gen.Int[1, 5], Gen.Int[0, 10_000])
            .Sample((blockSize, budget, caching, maxDrafts, seed) =>
            {
                var random = new Random(seed);
                var prompts = Enumerable.Range(0, 8).Select(i => Enumerable.Range(0, 1 + random.Next(20)).Select(t => (t * (i % 3 + 1)) % 11).ToArray()).ToArray();
                var plain = RunMany(blockSize, budget, caching, prompts, null, null);
                var aborted = new HashSet<string>();
                var spec = RunMany(blockSize, budget, caching, prompts, RandomDrafter(seed, maxDrafts), (scheduler, output) =>
                {
                    foreach (var s in output.Scheduled)
                        if (s.NumSpecTokens > 0 && random.Next(12) == 0 && scheduler.FinishRequest(s.RequestId, RequestStatus.FinishedAborted))
                            aborted.Add(s.RequestId);
                });
                foreach (var (id, output) in spec.Outputs)
                    if (!aborted.Contains(id)) Assert.Equal(plain.Outputs[id], output);
                preemptions += spec.Scheduler.NumPreemptions;
                accepted += spec.Scheduler.SpecDecoding.NumAcceptedTokens;
                rejected += spec.Scheduler.SpecDecoding.NumDraftTokens - spec.Scheduler.SpecDecoding.NumAcceptedTokens;
            }, iter: 150, threads: 1);
        Assert.True(preemptions > 0 && accepted > 0 && rejected > 0, $"vacuous: {preemptions} preemptions, {accepted} accepted, {rejected} rejected");
    }

    /// <summary>Runs all requests together in a cache small enough to preempt; returns each one's output; checks the idle pool.</summary>
    private static (Dictionary<string, int[]> Outputs, Scheduler Scheduler) RunMany(int blockSize, int budget, bool caching, int[][] prompts,
        Func<Request, IReadOnlyList<int>, int[]>? drafter, Action<Scheduler, SchedulerOutput>? whileRunning)
    {
        var scheduler = new Scheduler(new SchedulerConfig
        {
            BlockSize = blockSize, NumBlocks = 48 / blockSize + 1, MaxNumBatchedTokens = budget, EnablePrefixCaching = caching, MaxNumSeqs = 8,
        });
        var engine = new SimulatedEngine(scheduler) { Drafter = drafter };
        if (whileRunning is not null) engine.WhileRunning = output => whileRunning(scheduler, output);
        var requests = prompts.Select((p, i) => new Request($"r{i}", p, new SamplingParams { MaxTokens = 24 })).ToArray();
        foreach (var r in requests) scheduler.AddRequest(r);
        engine.RunToCompletion(); // ends with the idle self-check: no block held, none leaked
        return (requests.ToDictionary(r => r.RequestId, r => r.OutputTokenIds.ToArray()), scheduler);
    }
}
