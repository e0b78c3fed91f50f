using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Engine.Tests.Engine;

/// <summary>
/// The runner boundary: the model runner consumes only <see cref="SchedulerOutput"/>s. A live run records every
/// scheduler output (with preemption, chunked prefill, prefix-cache hits, n = 2 forks, seeded sampling and prompt
/// scoring); a second runner on a fresh executor, with no scheduler at all, replays the recorded outputs and samples
/// exactly the same tokens and prompt log-probabilities.
/// </summary>
public class ModelRunnerTests
{
    private static FixtureModel Model => FixtureModel.Get("llama-gqa");

    [Fact]
    public void ARunnerDrivenOnlyByRecordedSchedulerOutputsSamplesTheSameTokens()
    {
        const int blockSize = 4, numBlocks = 24;
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = numBlocks, BlockSize = blockSize, MaxNumBatchedTokens = 24, MaxModelLen = 96 });
        var greedy = new SamplingParams { Temperature = 0, MaxTokens = 12, IgnoreEos = true };
        var seeded = new SamplingParams { Temperature = 0.8f, TopK = 20, Seed = 7, MaxTokens = 12, IgnoreEos = true, Logprobs = 2 };
        var shared = Model.Prompt(18, seed: 1);
        scheduler.AddRequest(new Request("a", shared, greedy));
        scheduler.AddRequest(new Request("b", [.. shared, .. Model.Prompt(6, seed: 2)], seeded));
        scheduler.AddRequest(new Request("c", Model.Prompt(30, seed: 3), greedy with { PromptLogprobs = 1 }) { MaxTokensPerStep = 9, ReadsPrefixCache = false });
        var leader = new Request("d#0", Model.Prompt(10, seed: 4), seeded);
        scheduler.AddRequest(leader);
        scheduler.AddRequest(new Request("d#1", leader.PromptTokenIds, seeded) { ForkSource = leader, SampleIndex = 1 });

        var recorded = new List<(SchedulerOutput Step, ModelRunnerOutput Ran)>();
        using (var executor = Model.CreateExecutor(numBlocks, blockSize))
        {
            var live = new ModelRunner(executor, maxNumTokens: 24, maxNumSeqs: 64);
            while (true)
            {
                var step = scheduler.Schedule();
                var ran = live.Execute(step);
                recorded.Add((step, ran));
                if (!scheduler.HasUnfinishedRequests) break; // this last (empty) step told the runner of the last finish
                scheduler.UpdateFromOutput(step, ran);
            }
            Assert.Equal(0, live.NumRequests);
        }
        Assert.Contains(recorded, r => r.Step.PreemptedRequestIds.Count > 0);
        Assert.Contains(recorded, r => r.Ran.PromptLogprobs.Count > 0);

        using var fresh = Model.CreateExecutor(numBlocks, blockSize);
        var replay = new ModelRunner(fresh, maxNumTokens: 24, maxNumSeqs: 64);
        foreach (var (step, ran) in recorded)
        {
            var again = replay.Execute(step);
            for (int i = 0; i < step.Scheduled.Count; i++)
            {
                Assert.Equal(ran.SampledTokenIds(i).ToArray(), again.SampledTokenIds(i).ToArray());
                Assert.Equal(ran.Logprobs(i).ToArray().Select(l => l?.Logprob), again.Logprobs(i).ToArray().Select(l => l?.Logprob));
            }
            Assert.Equal(ran.PromptLogprobs.Keys, again.PromptLogprobs.Keys);
            foreach (var (id, scored) in ran.PromptLogprobs)
                Assert.Equal(scored.Select(l => (l.TokenId, l.Logprob)), again.PromptLogprobs[id].Select(l => (l.TokenId, l.Logprob)));
        }
        Assert.Equal(0, replay.NumRequests);
    }
}
