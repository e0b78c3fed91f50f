using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

/// <summary>A step budget of the caller's (the engine's step-time control) below max_num_batched_tokens.</summary>
public class StepBudgetSchedulingTests
{
    [Fact]
    public void AStepBudgetBelowTheCapBoundsThatStepOnly()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4, MaxNumBatchedTokens = 32 });
        scheduler.AddRequest(new Request("a", Enumerable.Range(1, 50).ToArray(), new SamplingParams { MaxTokens = 2 }));
        var first = scheduler.Schedule(10);
        Assert.Equal(10, first.TotalNumScheduledTokens);
        Assert.Equal([10], first.Scheduled.Select(s => s.NumNewTokens));
        var second = scheduler.Schedule();
        Assert.Equal(32, second.TotalNumScheduledTokens);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(-5, 1)]
    [InlineData(1000, 32)]
    public void AStepBudgetIsClampedToOneAndTheCap(int asked, int expected)
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4, MaxNumBatchedTokens = 32 });
        scheduler.AddRequest(new Request("a", Enumerable.Range(1, 50).ToArray(), new SamplingParams { MaxTokens = 2 }));
        Assert.Equal(expected, scheduler.Schedule(asked).TotalNumScheduledTokens);
    }

    /// <summary>Random budgets each step: every request still finishes, no step exceeds its budget, no block leaks, each reads its own KV.</summary>
    [Fact]
    public void RandomStepBudgetsNeverExceededAndEveryRequestFinishes()
    {
        var random = new Random(7);
        for (int trial = 0; trial < 50; trial++)
        {
            var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 128, BlockSize = 4, MaxNumBatchedTokens = 48, MaxNumSeqs = 8 });
            var requests = Enumerable.Range(0, random.Next(1, 12)).Select(i => new Request($"r{i}",
                Enumerable.Range(1, random.Next(1, 60)).ToArray(), new SamplingParams { MaxTokens = random.Next(1, 8), IgnoreEos = true })).ToList();
            foreach (var r in requests) scheduler.AddRequest(r);
            var engine = new SimulatedEngine(scheduler) { StepBudget = () => random.Next(1, 64) }; // it checks each step's budget
            while (scheduler.HasUnfinishedRequests)
            {
                Assert.True(engine.Steps < 10_000, "the scheduler stopped making progress");
                engine.Step();
            }
            Assert.All(requests, r => Assert.Equal(RequestStatus.FinishedLength, r.Status));
            scheduler.CheckIdle();
        }
    }
}
