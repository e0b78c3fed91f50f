using System.Diagnostics;
using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;
using Loom.Engine.Output;
using Loom.Engine.Requests;

namespace Loom.Engine;

public sealed partial class LlmEngine
{
    /// <summary>
    /// One iteration: schedule (running requests first, then waiting ones, under the token budget), run the batch and
    /// sample (the runner reads only the scheduler's output), let the scheduler settle the tokens (it owns every
    /// token-based stop), then turn them into text and per-request outputs. Returns the requests that have news.
    /// A fault while sampling or postprocessing one request ends that request with an error (see <see cref="End"/>);
    /// a fault in scheduling or the forward pass touches shared state and propagates: the engine is then dead.
    /// </summary>
    public IReadOnlyList<RequestOutput> Step()
    {
        var outputs = new List<RequestOutput>();
        EndFailedCompilations();
        LandKvArrivals();
        TakeEndedOutputs(outputs);

        var scheduled = _stepTime is null ? _scheduler.Schedule() : _scheduler.Schedule(_stepTime.NextBudget(_scheduler.NumRunning, _scheduler.NumDecoding));
        StartKvLoads();
        _lastStepRan = !scheduled.IsEmpty;
        long started = Stopwatch.GetTimestamp();
        var ran = _runner.Execute(scheduled); // also when empty: it must hear of finished requests
        _stepTime?.Observe(scheduled.TotalNumScheduledTokens, Stopwatch.GetElapsedTime(started));
        if (!scheduled.IsEmpty)
        {
            EndFaultedRows(ran);
            foreach (var (id, scored) in ran.PromptLogprobs)
                if (_sequences.TryGetValue(id, out var scorer)) scorer.Parent.PromptLogprobs!.AddRange(scored);
            foreach (var update in _scheduler.UpdateFromOutput(scheduled, ran)) PostprocessOne(update, ran); // skips the ended ones
            CollectOutputs(outputs);
        }
        TakeEndedOutputs(outputs);
        PublishKvEvents();

        if (!_scheduler.HasUnfinishedRequests && Options.IdleSelfCheck) _scheduler.CheckIdle();
        return outputs;
    }

    /// <summary>
    /// A grammar whose masks failed to compile (found after intake, on the thread pool) ends its own request with that
    /// error; its gate never opens, so the scheduler cannot pick it meanwhile, and the others run on.
    /// </summary>
    private void EndFailedCompilations()
    {
        for (int i = _compiling.Count - 1; i >= 0; i--)
        {
            var state = _compiling[i];
            var grammar = state.Request.Grammar!;
            bool current = _requests.TryGetValue(state.Request.RequestId, out var live) && ReferenceEquals(live, state);
            if (current && !grammar.IsReady && grammar.Error is null) continue;
            _compiling.RemoveAt(i);
            if (current && grammar.Error is { } error) End(state, error);
        }
    }

    private void TakeEndedOutputs(List<RequestOutput> outputs)
    {
        outputs.AddRange(_endedOutputs);
        _endedOutputs.Clear();
    }

    /// <summary>Rows the sampler could not serve end their requests before the scheduler appends anything.</summary>
    private void EndFaultedRows(ModelRunnerOutput ran)
    {
        foreach (var (id, fault) in ran.SamplingFaults)
            if (_sequences.TryGetValue(id, out var seq)) End(seq.Parent, fault);
    }

    /// <summary>Postprocessing (detokenizing, stop strings) of one sequence; its failure is that request's alone.</summary>
    private void PostprocessOne(RequestUpdate update, ModelRunnerOutput ran)
    {
        if (!_sequences.TryGetValue(update.RequestId, out var seq)) return;
        try
        {
            Postprocess(seq, update, ran);
        }
        catch (Exception e)
        {
            End(seq.Parent, e);
        }
    }

    /// <summary>
    /// Feeds the tokens the scheduler took to the sequence's output tracker. A stop string the tracker finds ends the
    /// request through the scheduler, which is the one owner of finishing.
    /// </summary>
    private void Postprocess(SequenceState seq, RequestUpdate update, ModelRunnerOutput ran)
    {
        var tokens = ran.SampledTokenIds(update.ScheduledIndex)[..update.NumNewTokens];
        var logprobs = ran.Logprobs(update.ScheduledIndex);
        int firstOutput = update.NumOutputTokens - tokens.Length;
        for (int k = 0; k < tokens.Length && !seq.Finished; k++)
        {
            _generationTokensTotal++;
            var stop = k == tokens.Length - 1 ? update.Stop : StopCheck.Continue;
            var text = seq.Tracker.Append(tokens[k], firstOutput + k + 1, stop);
            if (text.Finished && !seq.Request.IsFinished) _scheduler.FinishRequest(seq.Request.RequestId, RequestStatus.FinishedStopped);
            Deliver(seq, tokens[k], logprobs.IsEmpty ? null : logprobs[k], text);
        }
    }

    private void Deliver(SequenceState seq, int tokenId, TokenLogprob? logprob, OutputUpdate update)
    {
        var parent = seq.Parent;
        if (parent.PendingDeltas.Count == 0) _touched.Add(parent);
        parent.PendingDeltas.Add(new CompletionDelta(seq.Index, [tokenId], update.NewText,
            logprob is { } lp ? [lp] : null, update.FinishReason, update.StopReason));
        if (update.Finished) _sequences.Remove(seq.Request.RequestId);
    }

    /// <summary>The prompt log-probabilities, once, in the first output after the whole prompt was scored.</summary>
    private static IReadOnlyList<TokenLogprob?>? TakePromptLogprobs(RequestState state)
    {
        if (state.PromptLogprobs is not { } scored || state.PromptLogprobsSent || scored.Count < state.Sequences[0].Request.NumPromptTokens)
            return null;
        state.PromptLogprobsSent = true;
        return scored;
    }

    private void CollectOutputs(List<RequestOutput> outputs)
    {
        foreach (var state in _touched)
        {
            bool finished = state.Finished;
            outputs.Add(new RequestOutput(state.Request.RequestId, state.Sequences[0].Request.NumPromptTokens, state.CachedPromptTokens,
                [.. state.PendingDeltas], finished)
            {
                PromptLogprobs = TakePromptLogprobs(state),
                HeldKv = finished ? TakeHeldKv(state) : null,
            });
            state.PendingDeltas.Clear();
            if (finished) _requests.Remove(state.Request.RequestId);
        }
        _touched.Clear();
    }
}
