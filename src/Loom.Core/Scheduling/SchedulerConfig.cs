namespace Loom.Core.Scheduling;

/// <summary>Limits and switches of the scheduler and its KV cache (vLLM's names in comments).</summary>
public sealed record SchedulerConfig
{
    /// <summary>max_num_seqs: most requests running at once.</summary>
    public int MaxNumSeqs { get; init; } = 64;
    /// <summary>max_num_batched_tokens: token budget of one step, prefill chunks and decodes together.</summary>
    public int MaxNumBatchedTokens { get; init; } = 512;
    /// <summary>max_model_len: prompt + output limit of one request.</summary>
    public int MaxModelLen { get; init; } = 2048;
    public int BlockSize { get; init; } = 16;
    public required int NumBlocks { get; init; }
    public bool EnablePrefixCaching { get; init; } = true;
    /// <summary>Off: a waiting request's prompt must be scheduled whole in one step.</summary>
    public bool EnableChunkedPrefill { get; init; } = true;
    /// <summary>Lower <c>Request.Priority</c> first, FCFS within a level; preempt the lowest priority first.</summary>
    public bool PriorityScheduling { get; init; }
    /// <summary>
    /// num_lookahead_tokens: KV slots allocated past each scheduled entry's tokens, for a draft model that writes its
    /// drafts' KV before the next step schedules them (never past what the request can still emit).
    /// </summary>
    public int NumLookaheadTokens { get; init; }

    public SchedulerConfig Validate()
    {
        Check(MaxNumSeqs >= 1, "max_num_seqs", $"max_num_seqs must be at least 1, got {MaxNumSeqs}.");
        Check(MaxNumBatchedTokens >= 1, "max_num_batched_tokens", $"max_num_batched_tokens must be at least 1, got {MaxNumBatchedTokens}.");
        Check(MaxModelLen >= 1, "max_model_len", $"max_model_len must be at least 1, got {MaxModelLen}.");
        Check(BlockSize >= 1, "block_size", $"block_size must be at least 1, got {BlockSize}.");
        Check(NumLookaheadTokens >= 0, "num_lookahead_tokens", $"num_lookahead_tokens must not be negative, got {NumLookaheadTokens}.");
        Check(NumBlocks >= 1, "num_blocks", $"the KV cache must hold at least one block, got {NumBlocks}.");
        return this;
    }

    private static void Check(bool ok, string field, string message)
    {
        if (!ok) throw new ArgumentException(message, field);
    }
}
