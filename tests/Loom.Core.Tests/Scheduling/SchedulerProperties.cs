using CsCheck;
using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

/// <summary>
/// Random workloads on random (often tiny) caches and budgets: every step respects the token budget and max_num_seqs,
/// every request finishes (no deadlock, no starvation), outputs equal the undisturbed run despite preemption and
/// prefix-cache hits, aborted requests free their blocks, and the pool is full again at the end.
/// </summary>
public class SchedulerProperties
{
    private const int StopToken = 7; // the fake model's EOS: the scheduler stops on it

    private sealed record Spec(int PromptLength, int MaxTokens, int Family, int Priority, int N, int AbortAtStep);

    private sealed record Scenario(int BlockSize, int Budget, int MaxSeqs, bool Chunked, bool Caching, bool Priority, int ExtraBlocks, Spec[] Requests);

    private static readonly Gen<Spec> GenSpec = Gen.Select(Gen.Int[1, 40], Gen.Int[1, 12], Gen.Int[0, 2], Gen.Int[0, 2], Gen.Int[1, 3], Gen.Int[-40, 40],
        (p, m, f, pr, n, abort) => new Spec(p, m, f, pr, n, abort));

    private static readonly Gen<Scenario> GenScenario =
        Gen.Select(Gen.Int[1, 8], Gen.Int[1, 64], Gen.Int[1, 8], Gen.Bool, Gen.Bool, Gen.Bool, Gen.Int[0, 12], GenSpec.Array[1, 12])
            .Select(t => new Scenario(t.Item1, t.Item2, t.Item3, t.Item4, t.Item5, t.Item6, t.Item7, t.Rest.Item1));

    [Fact]
    public void EveryRequestFinishesWithItsOwnTokensUnderAnyLimits()
    {
        GenScenario.Sample(s => { Run(s); }, iter: 300, threads: 1);
    }

    [Fact]
    public void TinyCacheForcesPreemptionAndStillCompletes()
    {
        // The cache fits the largest request alone (intake guarantees that), so concurrency comes only from preemption.
        var scenario = new Scenario(2, 64, 8, true, false, false, 0,
            [.. Enumerable.Range(0, 8).Select(i => new Spec(10 + i, 10, i % 3, 0, 1, -1))]);
        Assert.True(Run(scenario) > 0, "expected preemptions");
    }

    private static long Run(Scenario s)
    {
        int maxTotal = s.Requests.Max(r => r.PromptLength + r.MaxTokens);
        var config = new SchedulerConfig
        {
            BlockSize = s.BlockSize,
            NumBlocks = (maxTotal + s.BlockSize - 1) / s.BlockSize + s.ExtraBlocks,
            MaxNumBatchedTokens = s.Chunked ? s.Budget : Math.Max(s.Budget, maxTotal),
            MaxNumSeqs = s.MaxSeqs,
            EnableChunkedPrefill = s.Chunked,
            EnablePrefixCaching = s.Caching,
            PriorityScheduling = s.Priority,
            MaxModelLen = 128,
        };
        var scheduler = new Scheduler(config);
        var engine = new SimulatedEngine(scheduler);
        var all = new List<(Request Request, int AbortAt)>();
        for (int i = 0; i < s.Requests.Length; i++)
        {
            var spec = s.Requests[i];
            var prompt = Enumerable.Range(0, spec.PromptLength).Select(p => (p * (spec.Family + 3) + spec.Family) % 11 + 20).ToArray();
            var parameters = new SamplingParams { MaxTokens = spec.MaxTokens };
            var leader = new Request($"r{i}", prompt, parameters, spec.Priority) { EosTokenIds = [StopToken] };
            scheduler.AddRequest(leader);
            all.Add((leader, spec.AbortAtStep));
            for (int k = 1; k < spec.N; k++)
            {
                var sibling = new Request($"r{i}#{k}", prompt, parameters, spec.Priority) { ForkSource = leader, SampleIndex = k, EosTokenIds = [StopToken] };
                scheduler.AddRequest(sibling);
                all.Add((sibling, -1));
            }
        }

        while (scheduler.HasUnfinishedRequests)
        {
            Assert.True(engine.Steps < 20_000, "no progress: deadlock or starvation");
            foreach (var (request, abortAt) in all)
                if (abortAt == engine.Steps && !request.IsFinished)
                {
                    scheduler.FinishRequest(request.RequestId, RequestStatus.FinishedAborted);
                    scheduler.KvCache.CheckConsistency();
                }
            engine.Step();
        }
        scheduler.CheckIdle();
        Assert.Equal(config.NumBlocks, scheduler.KvCache.Pool.NumFreeBlocks);

        foreach (var (request, _) in all)
        {
            Assert.True(request.IsFinished);
            if (request.Status == RequestStatus.FinishedAborted) continue;
            Assert.Equal(Reference(request), request.OutputTokenIds.ToArray());
        }
        return scheduler.NumPreemptions;
    }

    /// <summary>The outputs the fake model gives this request when it runs alone and uninterrupted.</summary>
    private static int[] Reference(Request finished)
    {
        var tokens = finished.PromptTokenIds.ToArray().ToList();
        var output = new List<int>();
        while (true)
        {
            int token = SimulatedEngine.NextToken(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokens), finished.SampleIndex);
            tokens.Add(token);
            output.Add(token);
            if (token == StopToken || output.Count == finished.Params.MaxTokens) return [.. output];
        }
    }
}
