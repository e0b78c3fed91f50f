using Loom.Core.Requests;
using Loom.Core.Sampling;

namespace Loom.Core.Scheduling;

/// <summary>
/// One request's share of a step: run tokens [StartPosition, StartPosition + NumNewTokens) of it. Its block table
/// travels as a diff: the runner cuts its copy to <see cref="FirstNewBlockIndex"/> entries and appends
/// <see cref="NewBlockIds"/>. With speculative decoding the last <see cref="NumSpecTokens"/> of the new tokens are
/// drafts (<see cref="SpecTokenIds"/>) that follow the request's last known token: the runner scores all of them and
/// keeps the accepted ones. A struct so that a decode step allocates nothing per request.
/// </summary>
public readonly struct ScheduledRequest
{
    internal ScheduledRequest(Request request, int startPosition, int numNewTokens, int firstNewBlockIndex, int[] newBlockIds,
        int numSpecTokens = 0)
    {
        Request = request;
        StartPosition = startPosition;
        NumNewTokens = numNewTokens;
        FirstNewBlockIndex = firstNewBlockIndex;
        NewBlockIds = newBlockIds;
        NumSpecTokens = numSpecTokens;
        SamplesToken = startPosition + numNewTokens == request.NumTokens + numSpecTokens;
    }

    /// <summary>The scheduler's own state of the request: Core only, so the runner cannot read past the message.</summary>
    internal Request Request { get; }

    public string RequestId => Request.RequestId;
    /// <summary>Tokens already computed before this step (vLLM's num_computed_tokens).</summary>
    public int StartPosition { get; }
    /// <summary>Tokens to compute this step (a prefill chunk, or 1 for a decode).</summary>
    public int NumNewTokens { get; }
    /// <summary>Block-table entries the runner keeps from before: all of them on most steps, 0 after a preemption.</summary>
    public int FirstNewBlockIndex { get; }
    /// <summary>Blocks allocated to it by this step (empty on most decode steps; all of them when first scheduled).</summary>
    public int[] NewBlockIds { get; }
    /// <summary>True when this step reaches the request's last known token (and its drafts), so its logits are sampled;
    /// false for a prefill chunk that stops short of the end of the prompt.</summary>
    public bool SamplesToken { get; }

    /// <summary>Drafts among the new tokens (after the request's known tokens); 0 without speculation.</summary>
    public int NumSpecTokens { get; }
    /// <summary>
    /// The drafts scheduled (the request's first <see cref="NumSpecTokens"/> proposed tokens), read while the step runs:
    /// settling the step replaces them with the next proposal.
    /// </summary>
    public ReadOnlySpan<int> SpecTokenIds => Request.SpecTokenIds[..NumSpecTokens];

    /// <summary>Tokens with KV once this step has run (the attention context length).</summary>
    public int ContextLength => StartPosition + NumNewTokens;
}

/// <summary>
/// A request the model runner has not seen before: what it needs to keep its own copy (tokens, sampling state).
/// Sent once, on the request's first scheduling; a preempted request that resumes is not new.
/// </summary>
/// <param name="SampleIndex">Which of its parent's n samples it is (seeded siblings draw with seed + index).</param>
/// <param name="EosTokenIds">The model's end-of-sequence ids (min_tokens masks them).</param>
/// <param name="Gate">The gate the request waited behind (open by now); a compiled grammar also constrains its sampling.</param>
public sealed record NewRequestData(string RequestId, int[] PromptTokenIds, SamplingParams Params, int SampleIndex,
    IReadOnlyList<int> EosTokenIds, Requests.IReadinessGate? Gate = null);

/// <summary>What the scheduler decided for one step: the only message the model runner reads.</summary>
/// <param name="Scheduled">Requests to run, in batch order: running ones first, then newly admitted ones.</param>
/// <param name="TotalNumScheduledTokens">Sum of NumNewTokens (never above max_num_batched_tokens).</param>
/// <param name="NewRequests">Requests scheduled for the first time this step (their entries are in Scheduled too).</param>
/// <param name="PreemptedRequestIds">Requests evicted this step to free blocks: the runner drops their block tables.</param>
/// <param name="FinishedRequestIds">Requests finished or aborted since the previous step (drop their per-request state).</param>
public sealed record SchedulerOutput(
    IReadOnlyList<ScheduledRequest> Scheduled,
    int TotalNumScheduledTokens,
    IReadOnlyList<NewRequestData> NewRequests,
    IReadOnlyList<string> PreemptedRequestIds,
    IReadOnlyList<string> FinishedRequestIds)
{
    public bool IsEmpty => Scheduled.Count == 0;

    /// <summary>Number of scheduled requests whose logits are sampled this step.</summary>
    public int NumSampled
    {
        get
        {
            int n = 0;
            foreach (var s in Scheduled) if (s.SamplesToken) n++;
            return n;
        }
    }
}
