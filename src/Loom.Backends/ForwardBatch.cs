namespace Loom.Backends;

/// <summary>
/// One step's input, flattened: all new tokens of all sequences back to back. The arrays are capacity-sized (allocated
/// once, e.g. at max_num_batched_tokens and max_num_seqs) and the counts say how much of each this step uses, so a
/// runner refills the same batch every step. The int arrays live on the pinned heap, where a device can copy them
/// from without pinning per step.
/// Sequence i (i &lt; NumSeqs) owns tokens [Seqs[i].QueryStart, Seqs[i].QueryStart + Seqs[i].QueryLength).
/// </summary>
public sealed class ForwardBatch
{
    private int _numTokens, _numSeqs, _numLogits;

    public ForwardBatch(int maxNumTokens, int maxNumSeqs, int maxNumLogits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxNumTokens);
        ArgumentOutOfRangeException.ThrowIfNegative(maxNumSeqs);
        ArgumentOutOfRangeException.ThrowIfNegative(maxNumLogits);
        TokenIds = GC.AllocateArray<int>(maxNumTokens, pinned: true);
        Positions = GC.AllocateArray<int>(maxNumTokens, pinned: true);
        Seqs = new SequenceSlice[maxNumSeqs];
        LogitsIndices = GC.AllocateArray<int>(maxNumLogits, pinned: true);
    }

    /// <summary>[MaxNumTokens] token ids of the new tokens; the first NumTokens are this step's.</summary>
    public int[] TokenIds { get; }
    /// <summary>[MaxNumTokens] absolute position of each new token within its sequence.</summary>
    public int[] Positions { get; }
    /// <summary>[MaxNumSeqs] the sequences of the step; the first NumSeqs are this step's.</summary>
    public SequenceSlice[] Seqs { get; }
    /// <summary>[MaxNumLogits] indices into TokenIds whose logits are wanted (usually the last new token of each sequence).</summary>
    public int[] LogitsIndices { get; }

    public int MaxNumTokens => TokenIds.Length;
    public int MaxNumSeqs => Seqs.Length;
    public int MaxNumLogits => LogitsIndices.Length;

    public int NumTokens { get => _numTokens; set => _numTokens = CheckCount(value, MaxNumTokens, nameof(NumTokens)); }
    public int NumSeqs { get => _numSeqs; set => _numSeqs = CheckCount(value, MaxNumSeqs, nameof(NumSeqs)); }
    /// <summary>Rows of logits the step returns, in LogitsIndices order.</summary>
    public int NumLogits { get => _numLogits; set => _numLogits = CheckCount(value, MaxNumLogits, nameof(NumLogits)); }

    /// <summary>A batch exactly as large as its contents (tests, tools); a runner keeps one capacity batch instead.</summary>
    public static ForwardBatch Of(ReadOnlySpan<int> tokenIds, ReadOnlySpan<int> positions, ReadOnlySpan<SequenceSlice> seqs,
        ReadOnlySpan<int> logitsIndices)
    {
        if (positions.Length != tokenIds.Length)
            throw new ArgumentException($"{positions.Length} positions for {tokenIds.Length} tokens.", nameof(positions));
        var batch = new ForwardBatch(tokenIds.Length, seqs.Length, logitsIndices.Length);
        tokenIds.CopyTo(batch.TokenIds);
        positions.CopyTo(batch.Positions);
        seqs.CopyTo(batch.Seqs);
        logitsIndices.CopyTo(batch.LogitsIndices);
        batch.NumTokens = tokenIds.Length;
        batch.NumSeqs = seqs.Length;
        batch.NumLogits = logitsIndices.Length;
        return batch;
    }

    private static int CheckCount(int value, int capacity, string name) =>
        (uint)value <= (uint)capacity
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be between 0 and the batch's capacity {capacity}.");
}

/// <summary>
/// One sequence in a batch. New tokens occupy positions [ContextLength - QueryLength, ContextLength);
/// BlockTable[p / blockSize] holds the block of position p (for every p below ContextLength).
/// </summary>
public readonly record struct SequenceSlice(int QueryStart, int QueryLength, int ContextLength, int[] BlockTable);
