using Loom.Backends;
using Loom.Core.Scheduling;

namespace Loom.Engine.Speculative;

/// <summary>
/// The runner's side of speculative decoding (vLLM's propose_draft_token_ids): after a step, drafts up to
/// num_speculative_tokens tokens for each request that sampled, for the scheduler to schedule with its next step.
/// Proposes nothing for a step of disable_by_batch_size requests or more: a large batch is compute-bound, and scoring
/// drafts there costs what it saves. Two proposers sit behind this seam: prompt lookup (<see cref="PromptLookupProposer"/>)
/// and a draft model (<see cref="DraftModelProposer"/>).
/// </summary>
internal abstract class DraftProposer
{
    protected DraftProposer(SpeculativeConfig config)
    {
        NumSpeculativeTokens = config.NumSpeculativeTokens;
        DisableByBatchSize = config.DisableByBatchSize ?? int.MaxValue;
        _adaptive = config.AdaptiveK;
    }

    private readonly bool _adaptive;

    protected int NumSpeculativeTokens { get; }
    protected int DisableByBatchSize { get; }

    /// <summary>Most drafts to propose for <paramref name="request"/> now.</summary>
    protected int LimitFor(RunnerRequestState request) => request.DraftLimit ?? NumSpeculativeTokens;

    /// <summary>
    /// Adaptive k (adaptive_k): after a verification, a request whose drafts all stood may propose one more next time
    /// (up to num_speculative_tokens), one with a rejection one fewer (down to 1), so drafts are spent where they pay.
    /// Only the proposals change: verification, and so the output, is the same whatever k is.
    /// </summary>
    public void Observe(RunnerRequestState request, int numScheduled, int numAccepted)
    {
        if (!_adaptive || numScheduled == 0) return;
        int limit = LimitFor(request);
        request.DraftLimit = numAccepted >= numScheduled ? Math.Min(NumSpeculativeTokens, limit + 1) : Math.Max(1, limit - 1);
    }

    /// <param name="draftExecutor">The draft model of method draft_model (its KV cache has the target's block ids).</param>
    /// <param name="maxNumTokens">The scheduler's token budget per step.</param>
    /// <param name="maxNumSeqs">The most requests one step schedules.</param>
    public static DraftProposer Create(SpeculativeConfig config, IModelExecutor? draftExecutor, int maxNumTokens, int maxNumSeqs)
    {
        config.Validate();
        if (!config.IsDraftModel) return new PromptLookupProposer(config);
        return new DraftModelProposer(config, draftExecutor ?? throw new ArgumentException(
            "--speculative-config method \"draft_model\" needs the draft model's executor.", "model"), maxNumTokens, maxNumSeqs);
    }

    /// <param name="output">The step that just ran.</param>
    /// <param name="requests">[numScheduled] the runner's state of each entry, already holding this step's tokens.</param>
    /// <param name="sampledOffsets">The output's offsets: an entry that emitted nothing (a prefill chunk, a fault) drafts nothing.</param>
    public abstract DraftTokens? Propose(SchedulerOutput output, ReadOnlySpan<RunnerRequestState> requests, ReadOnlySpan<int> sampledOffsets);
}

/// <summary>Drafts from each request's own tokens (<see cref="NgramProposer"/>); nothing is allocated but the offsets.</summary>
internal sealed class PromptLookupProposer(SpeculativeConfig config) : DraftProposer(config)
{
    private readonly NgramProposer _ngram = new(config);
    private int[] _buffer = []; // [numSeqs * num_speculative_tokens] this step's drafts, entry after entry

    public override DraftTokens? Propose(SchedulerOutput output, ReadOnlySpan<RunnerRequestState> requests, ReadOnlySpan<int> sampledOffsets)
    {
        int n = output.Scheduled.Count;
        if (n >= DisableByBatchSize) return null;
        if (_buffer.Length < n * NumSpeculativeTokens) _buffer = new int[n * NumSpeculativeTokens];
        var offsets = new int[n + 1];
        for (int i = 0; i < n; i++)
        {
            int count = 0;
            if (sampledOffsets[i + 1] > sampledOffsets[i])
                count = _ngram.Propose(requests[i].Tokens, _buffer.AsSpan(offsets[i], LimitFor(requests[i])));
            offsets[i + 1] = offsets[i] + count;
        }
        return new DraftTokens(offsets, _buffer[..offsets[n]]);
    }
}
