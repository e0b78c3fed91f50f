using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

/// <summary>
/// The scheduler owns every token-based stop (vLLM's check_stop): the step that samples the stopping token finishes
/// the request, frees its blocks and reports why; the runner hears of it through the next step's finished ids.
/// </summary>
public class SchedulerStopTests
{
    private static (Scheduler Scheduler, SimulatedEngine Engine, Request Request) Start(SamplingParams p, int[] script, int promptLength = 5,
        int maxModelLen = 2048, int[]? eos = null)
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4, MaxModelLen = maxModelLen });
        var request = new Request("r", Enumerable.Range(100, promptLength).ToArray(), p.Validate()) { EosTokenIds = eos ?? [2] };
        scheduler.AddRequest(request);
        var engine = new SimulatedEngine(scheduler);
        engine.Scripted["r"] = new Queue<int>(script);
        return (scheduler, engine, request);
    }

    /// <summary>Steps until the request finishes; returns the step it finished in and the last update.</summary>
    private static (int Step, RequestUpdate Update) RunUntilFinished(SimulatedEngine engine, Request request)
    {
        while (!request.IsFinished) engine.Step();
        return (engine.Steps, engine.LastUpdates.Single());
    }

    [Fact]
    public void EosStopsInTheStepThatSampledIt()
    {
        var (scheduler, engine, request) = Start(new SamplingParams { MaxTokens = 10 }, [9, 8, 2, 7]);
        var (step, update) = RunUntilFinished(engine, request);
        Assert.Equal(3, step); // prefill samples 9, then 8, then 2 = EOS
        Assert.Equal(RequestStatus.FinishedStopped, request.Status);
        Assert.Equal(new StopCheck(RequestStatus.FinishedStopped), update.Stop);
        Assert.Equal([9, 8, 2], request.OutputTokenIds.ToArray());
        Assert.Equal(0, scheduler.KvCache.Pool.NumUsedBlocks);
        Assert.Equal(["r"], scheduler.Schedule().FinishedRequestIds);
    }

    [Fact]
    public void AStopTokenIdStopsWithItselfAsTheReason()
    {
        var (_, engine, request) = Start(new SamplingParams { MaxTokens = 10, StopTokenIds = [8] }, [9, 8, 7]);
        var (step, update) = RunUntilFinished(engine, request);
        Assert.Equal(2, step);
        Assert.Equal(8, update.Stop.StopTokenId);
        Assert.Equal(2, update.NumOutputTokens);
    }

    [Fact]
    public void MaxTokensAndMaxModelLenStopByLength()
    {
        var (_, engine, request) = Start(new SamplingParams { MaxTokens = 3 }, [9, 9, 9, 9]);
        Assert.Equal((3, RequestStatus.FinishedLength), (RunUntilFinished(engine, request).Step, request.Status));

        // Intake keeps prompt + max_tokens within max_model_len, so the model length binds exactly when they meet.
        (_, engine, request) = Start(new SamplingParams { MaxTokens = 2 }, [9, 9, 9, 9], promptLength: 5, maxModelLen: 7);
        Assert.Equal((2, RequestStatus.FinishedLength), (RunUntilFinished(engine, request).Step, request.Status));
    }

    [Fact]
    public void TheModelLengthStopsEvenBelowMaxTokens()
    {
        var p = new SamplingParams { MaxTokens = 100 };
        Assert.Equal(StopCheck.Continue, StopCheck.Evaluate(p, [], numTokens: 6, numOutputTokens: 1, tokenId: 9, maxModelLen: 7));
        Assert.Equal(RequestStatus.FinishedLength, StopCheck.Evaluate(p, [], numTokens: 7, numOutputTokens: 2, tokenId: 9, maxModelLen: 7).Status);
    }

    [Fact]
    public void LengthComesBeforeEos()
    {
        var (_, engine, request) = Start(new SamplingParams { MaxTokens = 2 }, [9, 2]);
        Assert.Equal(RequestStatus.FinishedLength, RunUntilFinished(engine, request).Update.Stop.Status);
    }

    [Fact]
    public void NoTokenStopsBeforeMinTokensAndIgnoreEosSkipsEos()
    {
        var (_, engine, request) = Start(new SamplingParams { MaxTokens = 10, MinTokens = 3, StopTokenIds = [8] }, [2, 8, 9, 8]);
        var (step, update) = RunUntilFinished(engine, request);
        Assert.Equal(4, step);
        Assert.Equal(8, update.Stop.StopTokenId);

        (_, engine, request) = Start(new SamplingParams { MaxTokens = 4, IgnoreEos = true }, [2, 2, 2, 2]);
        Assert.Equal((4, RequestStatus.FinishedLength), (RunUntilFinished(engine, request).Step, request.Status));
    }

    [Fact]
    public void TokensAfterAStopInOneEntryAreDropped()
    {
        // Several tokens for one entry, as speculative decoding returns them: the scheduler takes them up to the stop.
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4 });
        var request = new Request("r", [1, 2, 3], new SamplingParams { MaxTokens = 10 }) { EosTokenIds = [0] };
        scheduler.AddRequest(request);
        var prefill = scheduler.Schedule();
        scheduler.UpdateFromOutput(prefill, new ModelRunnerOutput([0, 1], [5]) { Drafts = new DraftTokens([0, 3], [6, 0, 7]) });
        var verify = scheduler.Schedule();
        Assert.Equal((4, 3), (verify.Scheduled[0].NumNewTokens, verify.Scheduled[0].NumSpecTokens));
        var updates = scheduler.UpdateFromOutput(verify, new ModelRunnerOutput([0, 4], [6, 0, 7, 9]));
        Assert.Equal([5, 6, 0], request.OutputTokenIds.ToArray());
        Assert.Equal(new RequestUpdate("r", 0, 2, 3, new StopCheck(RequestStatus.FinishedStopped)), updates.Single());
        scheduler.CheckIdle();
    }

    [Fact]
    public void MoreTokensThanDraftsPlusOneAreRejected()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4 });
        scheduler.AddRequest(new Request("r", [1, 2, 3], new SamplingParams { MaxTokens = 10 }));
        var output = scheduler.Schedule();
        var e = Assert.Throws<ArgumentException>(() => scheduler.UpdateFromOutput(output, new ModelRunnerOutput([0, 2], [5, 6])));
        Assert.Contains("0 draft(s)", e.Message);
    }

    [Fact]
    public void ARunnerOutputThatDoesNotMatchTheStepIsRejected()
    {
        var scheduler = new Scheduler(new SchedulerConfig { NumBlocks = 64, BlockSize = 4 });
        scheduler.AddRequest(new Request("r", [1, 2, 3], new SamplingParams { MaxTokens = 10 }));
        var output = scheduler.Schedule();
        Assert.Throws<ArgumentException>(() => scheduler.UpdateFromOutput(output, new ModelRunnerOutput([0, 0], [])));
        Assert.Throws<ArgumentException>(() => scheduler.UpdateFromOutput(output, new ModelRunnerOutput([0], [])));
        Assert.Throws<ArgumentException>(() => new ModelRunnerOutput([0, 2, 1, 2], [5, 6]));
    }
}
