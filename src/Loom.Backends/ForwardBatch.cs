namespace Loom.Backends;

/// <summary>
/// One step's input, flattened: all new tokens of all sequences back to back.
/// Sequence i owns tokens [Seqs[i].QueryStart, Seqs[i].QueryStart + Seqs[i].QueryLength).
/// </summary>
public sealed class ForwardBatch
{
    /// <summary>[numTokens] token ids of the new tokens.</summary>
    public required int[] TokenIds { get; init; }
    /// <summary>[numTokens] absolute position of each new token within its sequence.</summary>
    public required int[] Positions { get; init; }
    public required SequenceSlice[] Seqs { get; init; }
    /// <summary>Indices into TokenIds whose logits are wanted (usually the last new token of each sequence).</summary>
    public required int[] LogitsIndices { get; init; }

    public int NumTokens => TokenIds.Length;
}

/// <summary>
/// One sequence in a batch. New tokens occupy positions [ContextLength - QueryLength, ContextLength);
/// BlockTable[p / blockSize] holds the block of position p (for every p below ContextLength).
/// </summary>
public readonly record struct SequenceSlice(int QueryStart, int QueryLength, int ContextLength, int[] BlockTable);
