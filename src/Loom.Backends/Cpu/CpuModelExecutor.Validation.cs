namespace Loom.Backends.Cpu;

/// <summary>Checks a batch against the contract before any kernel touches memory through it.</summary>
public sealed partial class CpuModelExecutor
{
    /// <summary>
    /// Validates the batch, fills the token → sequence map, and returns the most keys any token attends to.
    /// Every block id that will be read or written is range-checked here, so kernels can index without checks.
    /// </summary>
    private int Validate(ForwardBatch batch)
    {
        int n = batch.NumTokens;
        for (int t = 0; t < n; t++)
            if ((uint)batch.TokenIds[t] >= (uint)Config.VocabSize)
                throw new ArgumentException($"ForwardBatch.TokenIds[{t}] = {batch.TokenIds[t]} is outside the vocabulary [0, {Config.VocabSize}).", nameof(batch));
        for (int i = 0; i < batch.NumLogits; i++)
            if ((uint)batch.LogitsIndices[i] >= (uint)n)
                throw new ArgumentException($"ForwardBatch.LogitsIndices[{i}] = {batch.LogitsIndices[i]} is not a token of the batch (0..{n - 1}).", nameof(batch));

        var tokenSeq = _scratch.TokenSeq;
        Array.Fill(tokenSeq, -1, 0, n);
        int maxKeys = 1;
        for (int i = 0; i < batch.NumSeqs; i++)
        {
            maxKeys = Math.Max(maxKeys, ValidateSequence(batch, i, tokenSeq));
        }
        for (int t = 0; t < n; t++)
            if (tokenSeq[t] < 0)
                throw new ArgumentException($"Token {t} of the batch belongs to no sequence in ForwardBatch.Seqs.", nameof(batch));
        return maxKeys;
    }

    private int ValidateSequence(ForwardBatch batch, int i, int[] tokenSeq)
    {
        var seq = batch.Seqs[i];
        int n = batch.NumTokens;
        int blockSize = _cache.BlockSize;
        if (seq.QueryLength < 0 || seq.QueryStart < 0 || seq.QueryStart + seq.QueryLength > n)
            throw new ArgumentException($"Seqs[{i}] covers tokens [{seq.QueryStart}, {seq.QueryStart + seq.QueryLength}) outside the batch of {n}.", nameof(batch));
        if (seq.ContextLength < seq.QueryLength)
            throw new ArgumentException($"Seqs[{i}].ContextLength {seq.ContextLength} is shorter than its QueryLength {seq.QueryLength}.", nameof(batch));
        if (seq.BlockTable is null || (long)seq.BlockTable.Length * blockSize < seq.ContextLength)
            throw new ArgumentException($"Seqs[{i}].BlockTable has {seq.BlockTable?.Length ?? 0} blocks of {blockSize}; context {seq.ContextLength} needs more.", nameof(batch));
        // Only blocks this step reads or writes must be real: with a sliding window, blocks wholly before the first
        // visible key of the first new token are never touched (an engine may have freed them).
        int firstBlock = seq.ContextLength == 0 ? 0 : _attention.FirstVisibleKey(seq.ContextLength - seq.QueryLength) / blockSize;
        int usedBlocks = (seq.ContextLength + blockSize - 1) / blockSize;
        for (int b = firstBlock; b < usedBlocks; b++)
            if ((uint)seq.BlockTable[b] >= (uint)_cache.NumBlocks)
                throw new ArgumentException($"Seqs[{i}].BlockTable[{b}] = {seq.BlockTable[b]} is not a block of the cache (0..{_cache.NumBlocks - 1}).", nameof(batch));

        int firstPosition = seq.ContextLength - seq.QueryLength;
        for (int q = 0; q < seq.QueryLength; q++)
        {
            int t = seq.QueryStart + q;
            if (tokenSeq[t] >= 0)
                throw new ArgumentException($"Token {t} is claimed by both Seqs[{tokenSeq[t]}] and Seqs[{i}].", nameof(batch));
            tokenSeq[t] = i;
            if (batch.Positions[t] != firstPosition + q)
                throw new ArgumentException($"Positions[{t}] = {batch.Positions[t]} but Seqs[{i}] places that token at {firstPosition + q}.", nameof(batch));
        }
        int last = seq.ContextLength - 1;
        return last - _attention.FirstVisibleKey(last) + 1;
    }

    private void CheckBlock(int block, string name)
    {
        if ((uint)block >= (uint)_cache.NumBlocks)
            throw new ArgumentOutOfRangeException(name, $"Block {block} is not a block of the cache (0..{_cache.NumBlocks - 1}).");
    }

    /// <summary>Checks every block id and that <paramref name="bufferLength"/> bytes hold them all.</summary>
    private void CheckTransfer(ReadOnlySpan<int> blockIds, int bufferLength, string bufferName)
    {
        for (int i = 0; i < blockIds.Length; i++) CheckBlock(blockIds[i], "blockIds");
        long needed = blockIds.Length * _cache.BlockBytes;
        if (bufferLength < needed)
            throw new ArgumentException($"{bufferName} holds {bufferLength} bytes; {blockIds.Length} blocks of {_cache.BlockBytes} bytes need {needed}.", bufferName);
    }
}
