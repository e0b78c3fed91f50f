using System.Numerics.Tensors;
using Loom.Backends.Cpu.Kernels;

namespace Loom.Backends.Cpu;

/// <summary>The per-step operations the forward calls, each over all tokens of the batch.</summary>
public sealed unsafe partial class CpuModelExecutor
{
    private void Embed(int[] tokenIds, ScratchBuffer hidden)
    {
        var embedding = _weights.Embedding;
        int h = Config.HiddenSize;
        for (int t = 0; t < tokenIds.Length; t++)
            WeightConversion.ReadRow(embedding.DType, embedding.Data, (long)tokenIds[t] * h, hidden.Slice((long)t * h, h), embedding.Name);
    }

    private void RmsNormRows(ScratchBuffer x, float[] weight, ScratchBuffer y, int numTokens)
    {
        int h = Config.HiddenSize;
        for (int t = 0; t < numTokens; t++)
            Norms.RmsNorm(x.Slice((long)t * h, h), weight, Config.RmsNormEps, y.Slice((long)t * h, h));
    }

    private void ApplyRope(int[] positions, int numTokens)
    {
        var s = _scratch;
        for (int t = 0; t < numTokens; t++)
        {
            _rope.Apply(s.Q.Slice((long)t * Config.QSize, Config.QSize), Config.NumAttentionHeads, positions[t]);
            _rope.Apply(s.K.Slice((long)t * Config.KvSize, Config.KvSize), Config.NumKeyValueHeads, positions[t]);
        }
    }

    /// <summary>Stores each new token's K and V rows in its slot: block BlockTable[p / blockSize], offset p % blockSize.</summary>
    private void WriteKv(int layer, ForwardBatch batch, int numTokens)
    {
        var s = _scratch;
        int kvSize = Config.KvSize;
        int blockSize = _cache.BlockSize;
        for (int t = 0; t < numTokens; t++)
        {
            int p = batch.Positions[t];
            int block = batch.Seqs[s.TokenSeq[t]].BlockTable[p / blockSize];
            _cache.Write(block, layer, p % blockSize, s.K.Slice((long)t * kvSize, kvSize), s.V.Slice((long)t * kvSize, kvSize));
        }
    }

    private static void AddInPlace(ScratchBuffer x, ScratchBuffer y, int count) =>
        TensorPrimitives.Add(x.Slice(0, count), y.Slice(0, count), x.Slice(0, count));

    /// <summary>Final norm and lm_head for the requested rows only (prefill tokens skip the vocabulary GEMM).</summary>
    private void ComputeLogits(int[] rows, Span<float> logits)
    {
        if (rows.Length == 0) return; // a prompt chunk that is not the prompt's end wants no logits
        var s = _scratch;
        int h = Config.HiddenSize;
        for (int i = 0; i < rows.Length; i++)
            Norms.RmsNorm(s.Hidden.Slice((long)rows[i] * h, h), _weights.FinalNorm, Config.RmsNormEps, s.Normed.Slice((long)i * h, h));
        fixed (float* output = logits)
            _linear.Run(_weights.LmHead, s.Normed.Pointer, rows.Length, output);
    }

    private static int MaxPosition(ForwardBatch batch)
    {
        int max = 0;
        foreach (int p in batch.Positions) max = Math.Max(max, p);
        return max;
    }
}
