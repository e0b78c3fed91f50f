using Loom.Core.Scheduling;

namespace Loom.Engine.Speculative;

/// <summary>
/// The runner's side of speculative decoding (vLLM's propose_draft_token_ids): after a step, drafts up to
/// num_speculative_tokens tokens for each request that sampled, from its own tokens (prompt lookup), for the scheduler
/// to schedule with its next step. Proposes nothing for a step of disable_by_batch_size requests or more: a large
/// batch is compute-bound, and scoring drafts there costs what it saves.
/// </summary>
internal sealed class DraftProposer
{
    private readonly NgramProposer _ngram;
    private readonly int _numSpeculativeTokens;
    private readonly int _disableByBatchSize;
    private int[] _buffer = []; // [numSeqs * num_speculative_tokens] this step's drafts, entry after entry

    public DraftProposer(SpeculativeConfig config)
    {
        _ngram = new NgramProposer(config);
        _numSpeculativeTokens = config.NumSpeculativeTokens;
        _disableByBatchSize = config.DisableByBatchSize ?? int.MaxValue;
    }

    /// <param name="requests">[numScheduled] the runner's state of each entry, already holding this step's tokens.</param>
    /// <param name="sampledOffsets">The output's offsets: an entry that emitted nothing (a prefill chunk, a fault) drafts nothing.</param>
    public DraftTokens? Propose(SchedulerOutput output, ReadOnlySpan<RunnerRequestState> requests, ReadOnlySpan<int> sampledOffsets)
    {
        int n = output.Scheduled.Count;
        if (n >= _disableByBatchSize) return null;
        if (_buffer.Length < n * _numSpeculativeTokens) _buffer = new int[n * _numSpeculativeTokens];
        var offsets = new int[n + 1];
        for (int i = 0; i < n; i++)
        {
            int count = 0;
            if (sampledOffsets[i + 1] > sampledOffsets[i])
                count = _ngram.Propose(requests[i].Tokens, _buffer.AsSpan(offsets[i], _numSpeculativeTokens));
            offsets[i + 1] = offsets[i] + count;
        }
        return new DraftTokens(offsets, _buffer[..offsets[n]]);
    }
}
