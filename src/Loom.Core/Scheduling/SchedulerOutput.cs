using Loom.Core.Requests;

namespace Loom.Core.Scheduling;

/// <summary>
/// One request's share of a step: run tokens [StartPosition, StartPosition + NumNewTokens) of it.
/// A struct so that a decode step allocates nothing per request.
/// </summary>
/// <param name="Request">The request (its block table is in the KV cache manager).</param>
/// <param name="StartPosition">Tokens already computed before this step.</param>
/// <param name="NumNewTokens">Tokens to compute this step (a prefill chunk, or 1 for a decode).</param>
/// <param name="NewBlockIds">Blocks allocated to it by this step (empty on most decode steps).</param>
/// <param name="SamplesToken">True when this step reaches the request's last known token, so its logits are sampled;
/// false for a prefill chunk that stops short of the end of the prompt.</param>
public readonly record struct ScheduledRequest(Request Request, int StartPosition, int NumNewTokens, int[] NewBlockIds, bool SamplesToken)
{
    /// <summary>Tokens with KV once this step has run (the attention context length).</summary>
    public int ContextLength => StartPosition + NumNewTokens;
}

/// <summary>What the scheduler decided for one step.</summary>
/// <param name="Scheduled">Requests to run, in batch order: running ones first, then newly admitted ones.</param>
/// <param name="TotalNumScheduledTokens">Sum of NumNewTokens (never above max_num_batched_tokens).</param>
/// <param name="Preempted">Requests evicted this step to free blocks; back in the waiting queue.</param>
/// <param name="FinishedRequestIds">Requests finished or aborted since the previous step (drop their per-request state).</param>
public sealed record SchedulerOutput(
    IReadOnlyList<ScheduledRequest> Scheduled,
    int TotalNumScheduledTokens,
    IReadOnlyList<Request> Preempted,
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
