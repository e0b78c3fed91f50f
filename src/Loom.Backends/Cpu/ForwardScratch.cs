using Loom.Models.Config;

namespace Loom.Backends.Cpu;

/// <summary>Activation buffers of one step, sized for the largest batch seen so far and reused (grown, never per token).</summary>
internal sealed class ForwardScratch : IDisposable
{
    public ScratchBuffer Hidden { get; } = new();     // [numTokens, hidden] residual stream
    public ScratchBuffer Normed { get; } = new();     // [max(numTokens, numLogits), hidden]
    public ScratchBuffer Q { get; } = new();          // [numTokens, numHeads * headDim]
    public ScratchBuffer K { get; } = new();          // [numTokens, numKvHeads * headDim]
    public ScratchBuffer V { get; } = new();          // [numTokens, numKvHeads * headDim]
    public ScratchBuffer Attention { get; } = new();  // [numTokens, numHeads * headDim]
    public ScratchBuffer Projected { get; } = new();  // [numTokens, hidden] o_proj / down_proj output
    public ScratchBuffer Gate { get; } = new();       // [numTokens, intermediate]
    public ScratchBuffer Up { get; } = new();         // [numTokens, intermediate]
    public ScratchBuffer Logits { get; } = new();     // [numLogits, vocab] what Forward returns
    /// <summary>[numTokens] index into batch.Seqs of each token.</summary>
    public int[] TokenSeq { get; private set; } = [];

    public void EnsureCapacity(ModelConfig c, int numTokens, int numLogits)
    {
        long n = numTokens;
        Hidden.EnsureCapacity(n * c.HiddenSize);
        Normed.EnsureCapacity(Math.Max(n, numLogits) * c.HiddenSize);
        Q.EnsureCapacity(n * c.QSize);
        K.EnsureCapacity(n * c.KvSize);
        V.EnsureCapacity(n * c.KvSize);
        Attention.EnsureCapacity(n * c.QSize);
        Projected.EnsureCapacity(n * c.HiddenSize);
        Gate.EnsureCapacity(n * c.IntermediateSize);
        Up.EnsureCapacity(n * c.IntermediateSize);
        Logits.EnsureCapacity((long)numLogits * c.VocabSize);
        if (TokenSeq.Length < numTokens) TokenSeq = new int[Math.Max(numTokens, TokenSeq.Length * 2)];
    }

    public void Dispose()
    {
        Hidden.Dispose(); Normed.Dispose(); Q.Dispose(); K.Dispose(); V.Dispose();
        Attention.Dispose(); Projected.Dispose(); Gate.Dispose(); Up.Dispose(); Logits.Dispose();
    }
}
