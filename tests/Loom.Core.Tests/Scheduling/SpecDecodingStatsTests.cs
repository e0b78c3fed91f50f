using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

/// <summary>The scheduler counts drafts as vLLM does: per verified entry, drafts scored and accepted = emitted - 1.</summary>
public class SpecDecodingStatsTests
{
    [Fact]
    public void Counts_drafts_accepted_tokens_and_positions()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4 });
        var request = new Request("r", [1, 2, 3], new SamplingParams { MaxTokens = 20 });
        scheduler.AddRequest(request);
        var step = scheduler.Schedule();
        scheduler.UpdateFromOutput(step, new ModelRunnerOutput([0, 1], [5]) { Drafts = new DraftTokens([0, 3], [6, 7, 8]) });
        step = scheduler.Schedule();
        Assert.Equal(3, step.Scheduled[0].NumSpecTokens);
        // 6 and 7 accepted, 8 rejected: the target emitted 9 in its place.
        scheduler.UpdateFromOutput(step, new ModelRunnerOutput([0, 3], [6, 7, 9]) { Drafts = new DraftTokens([0, 2], [1, 2]) });
        Assert.Equal(request.NumTokens - 1, request.NumComputedTokens); // the rejected draft's KV was taken back
        step = scheduler.Schedule();
        scheduler.UpdateFromOutput(step, new ModelRunnerOutput([0, 1], [4]));
        var stats = scheduler.SpecDecoding.Snapshot();
        Assert.Equal((2L, 5L, 2L), (stats.NumDrafts, stats.NumDraftTokens, stats.NumAcceptedTokens));
        Assert.Equal([1L, 1L, 0L], stats.AcceptedPerPosition);
        Assert.Equal(0.4, stats.AcceptanceRate, 6);
        Assert.Equal(2.0, stats.MeanAcceptanceLength, 6);
        var since = stats.Since(new SpecDecodingSnapshot(1, 3, 2, [1, 1, 0]));
        Assert.Equal((1L, 2L, 0L), (since.NumDrafts, since.NumDraftTokens, since.NumAcceptedTokens));
        Assert.Equal([0L, 0L, 0L], since.AcceptedPerPosition);
    }
}
