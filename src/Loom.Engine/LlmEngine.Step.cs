using Loom.Core.Requests;
using Loom.Core.Scheduling;
using Loom.Engine.Output;
using Loom.Engine.Requests;
using Loom.Engine.Sampling;

namespace Loom.Engine;

public sealed partial class LlmEngine
{
    /// <summary>
    /// One iteration: schedule (running requests first, then waiting ones, under the token budget), run the batch,
    /// sample, and turn the new tokens into per-request outputs. Returns the requests that have news.
    /// A fault while sampling or postprocessing one request ends that request with an error (see <see cref="End"/>);
    /// a fault in scheduling or the forward pass touches shared state and propagates: the engine is then dead.
    /// </summary>
    public IReadOnlyList<RequestOutput> Step()
    {
        var outputs = new List<RequestOutput>();
        TakeEndedOutputs(outputs);

        var scheduled = _scheduler.Schedule();
        if (!scheduled.IsEmpty)
        {
            var sampled = _runner.Execute(scheduled, _stateOf);
            EndFaultedRows(scheduled, sampled);
            if (_sampledIds.Length < sampled.Length) _sampledIds = new int[Math.Max(sampled.Length, _sampledIds.Length * 2)];
            for (int i = 0; i < sampled.Length; i++) _sampledIds[i] = sampled[i].TokenId;
            _scheduler.UpdateFromOutput(scheduled, _sampledIds.AsSpan(0, sampled.Length)); // skips the ended ones

            int row = 0;
            foreach (var s in scheduled.Scheduled)
                if (s.SamplesToken && _sequences.TryGetValue(s.Request.RequestId, out var seq)) PostprocessOne(seq, sampled[row++]);
                else if (s.SamplesToken) row++;
            CollectOutputs(outputs);
        }
        TakeEndedOutputs(outputs);

        if (!_scheduler.HasUnfinishedRequests && Options.IdleSelfCheck) _scheduler.CheckIdle();
        return outputs;
    }

    private void TakeEndedOutputs(List<RequestOutput> outputs)
    {
        outputs.AddRange(_endedOutputs);
        _endedOutputs.Clear();
    }

    /// <summary>Rows the sampler could not serve end their requests before the scheduler appends anything.</summary>
    private void EndFaultedRows(SchedulerOutput scheduled, ReadOnlySpan<SampledToken> sampled)
    {
        int row = 0;
        foreach (var s in scheduled.Scheduled)
        {
            if (!s.SamplesToken) continue;
            if (sampled[row++].Fault is { } fault && _sequences.TryGetValue(s.Request.RequestId, out var seq)) End(seq.Parent, fault);
        }
    }

    /// <summary>Postprocessing (detokenizing, stop checks) of one sequence; its failure is that request's alone.</summary>
    private void PostprocessOne(SequenceState seq, SampledToken sampled)
    {
        try
        {
            Postprocess(seq, sampled);
        }
        catch (Exception e)
        {
            End(seq.Parent, e);
        }
    }

    /// <summary>Feeds one sampled token to its sequence's output tracker and ends the sequence if it says so.</summary>
    private void Postprocess(SequenceState seq, SampledToken sampled)
    {
        _generationTokensTotal++;
        var update = seq.Tracker.Append(sampled.TokenId);
        var request = seq.Request;
        if (update.Finished && !request.IsFinished)
            _scheduler.FinishRequest(request.RequestId,
                update.FinishReason == FinishReasons.Length ? RequestStatus.FinishedLength : RequestStatus.FinishedStopped);
        else if (!update.Finished && request.IsFinished)
            throw new InvalidOperationException(
                $"Sequence {request.RequestId}: the scheduler ended it ({request.Status}) but the output tracker did not.");

        var parent = seq.Parent;
        if (parent.PendingDeltas.Count == 0) _touched.Add(parent);
        parent.PendingDeltas.Add(new CompletionDelta(seq.Index, [sampled.TokenId], update.NewText,
            sampled.Logprobs is { } lp ? [lp] : null, update.FinishReason, update.StopReason));
        if (update.Finished) _sequences.Remove(request.RequestId);
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
            });
            state.PendingDeltas.Clear();
            if (finished) _requests.Remove(state.Request.RequestId);
        }
        _touched.Clear();
    }
}
