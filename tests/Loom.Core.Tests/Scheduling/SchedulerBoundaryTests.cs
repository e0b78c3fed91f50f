using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

/// <summary>What the runner is told (new requests once, block-table diffs, preemptions) and the readiness gate.</summary>
public class SchedulerBoundaryTests
{
    private sealed class Gate : IReadinessGate
    {
        public bool IsReady { get; set; }
    }

    [Fact]
    public void ARequestIsNewToTheRunnerOnceEvenAfterPreemption()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 6, BlockSize = 4, MaxNumBatchedTokens = 64 });
        for (int i = 0; i < 3; i++) scheduler.AddRequest(new Request($"r{i}", Enumerable.Range(10 * i, 8).ToArray(), new SamplingParams { MaxTokens = 8 }));
        var engine = new SimulatedEngine(scheduler);
        var news = new List<string>();
        var preempted = new List<string>();
        while (scheduler.HasUnfinishedRequests)
        {
            var step = engine.Step();
            news.AddRange(step.NewRequests.Select(n => n.RequestId));
            preempted.AddRange(step.PreemptedRequestIds);
        }
        Assert.NotEmpty(preempted);
        Assert.Equal(["r0", "r1", "r2"], news.Order());
    }

    [Fact]
    public void AClosedGateHoldsARequestWhileOthersGoPast()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4 });
        var gate = new Gate();
        scheduler.AddRequest(new Request("gated", [1, 2, 3], new SamplingParams { MaxTokens = 2 }) { Gate = gate });
        scheduler.AddRequest(new Request("free", [4, 5, 6], new SamplingParams { MaxTokens = 2 }));
        var engine = new SimulatedEngine(scheduler);
        Assert.Equal(["free"], engine.Step().Scheduled.Select(s => s.RequestId));
        Assert.DoesNotContain("gated", engine.Step().Scheduled.Select(s => s.RequestId));
        gate.IsReady = true;
        Assert.Equal(["gated"], engine.Step().Scheduled.Select(s => s.RequestId));
        engine.RunToCompletion();
    }
}
