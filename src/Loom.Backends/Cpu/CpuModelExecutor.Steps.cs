using System.Diagnostics;
using System.Numerics.Tensors;
using Loom.Backends.Cpu.Kernels;
using Loom.Models.Definition;

namespace Loom.Backends.Cpu;

/// <summary>The per-step operations the forward calls, each over all tokens of the batch.</summary>
public sealed unsafe partial class CpuModelExecutor
{
    /// <summary>One <see cref="LayerStep"/> of layer <paramref name="layer"/> on the scratch buffers its doc names.</summary>
    private void RunStep(LayerStep step, CpuLayerWeights w, int layer, ForwardBatch batch, int maxKeys)
    {
        var s = _scratch;
        int n = batch.NumTokens;
        switch (step)
        {
            case LayerStep.QkvProjection: _linear.Run(w.Q, s.Q.Pointer, w.K, s.K.Pointer, w.V, s.V.Pointer, s.Normed.Pointer, n); break;
            case LayerStep.Attention:
                _attention.Run(_cache, layer, s.Q.Pointer, s.Attention.Pointer, batch.Positions, s.TokenSeq, batch.Seqs, n, maxKeys);
                break;
            case LayerStep.OutputProjection: _linear.Run(w.O, s.Attention.Pointer, n, s.Projected.Pointer); break;
            case LayerStep.GateUpProjection: _linear.Run(w.Gate, s.Gate.Pointer, w.Up, s.Up.Pointer, s.Normed.Pointer, n); break;
            case LayerStep.DownProjection: _linear.Run(w.Down, s.Gate.Pointer, n, s.Projected.Pointer); break;
            default: _tokenSteps.Run(step, w, layer, batch, WorkPerToken(step)); break;
        }
    }

    /// <summary>Rough operations per token of a token-wise step (a sigmoid counts as several).</summary>
    private long WorkPerToken(LayerStep step) => step switch
    {
        LayerStep.SiluMul => 8L * Config.IntermediateSize,
        LayerStep.Rope or LayerStep.QkNorm => 2L * (Config.QSize + Config.KvSize),
        LayerStep.KvCacheWrite => 2L * Config.KvSize,
        _ => 2L * Config.HiddenSize,
    };

    /// <summary>A token-wise step over tokens [start, end); <see cref="TokenStepJob"/> calls it on disjoint ranges.</summary>
    void TokenStepJob.IRunner.RunTokens(LayerStep step, CpuLayerWeights w, int layer, ForwardBatch batch, int start, int end)
    {
        var s = _scratch;
        int h = Config.HiddenSize;
        switch (step)
        {
            case LayerStep.InputNorm: RmsNormRows(s.Hidden, w.InputNorm, s.Normed, start, end); break;
            case LayerStep.QkNorm: QkNorm(w, start, end); break;
            case LayerStep.Rope: ApplyRope(batch.Positions, start, end); break;
            case LayerStep.KvCacheWrite: WriteKv(layer, batch, start, end); break;
            case LayerStep.ResidualAdd: AddInPlace(s.Hidden, s.Projected, (long)start * h, (end - start) * h); break;
            case LayerStep.PostAttentionNorm: RmsNormRows(s.Hidden, w.PostAttentionNorm, s.Normed, start, end); break;
            case LayerStep.SiluMul:
                int m = Config.IntermediateSize;
                // Row by row, so each row's gate and up stay in L1 across the three passes SiluMulInPlace makes.
                for (int t = start; t < end; t++)
                    Norms.SiluMulInPlace(s.Gate.Slice((long)t * m, m), s.Up.Slice((long)t * m, m));
                break;
            default: throw new NotSupportedException($"The CPU executor has no kernel for layer step {step}.");
        }
    }

    private void Embed(ForwardBatch batch, ScratchBuffer hidden)
    {
        var embedding = _weights.Embedding;
        int h = Config.HiddenSize;
        for (int t = 0; t < batch.NumTokens; t++)
            WeightConversion.ReadRow(embedding.DType, embedding.Data, (long)batch.TokenIds[t] * h, hidden.Slice((long)t * h, h), embedding.Name);
    }

    private void RmsNormRows(ScratchBuffer x, float[] weight, ScratchBuffer y, int start, int end)
    {
        int h = Config.HiddenSize;
        for (int t = start; t < end; t++)
            Norms.RmsNorm(x.Slice((long)t * h, h), weight, Config.RmsNormEps, y.Slice((long)t * h, h));
    }

    private void QkNorm(CpuLayerWeights w, int start, int end)
    {
        Debug.Assert(w.QNorm != null && w.KNorm != null, "the definition has a qk-norm step only where the layer has q/k norms");
        int q = Config.QSize, kv = Config.KvSize;
        Norms.RmsNormRowsInPlace(_scratch.Q.Slice((long)start * q, (end - start) * q), w.QNorm, Config.RmsNormEps);
        Norms.RmsNormRowsInPlace(_scratch.K.Slice((long)start * kv, (end - start) * kv), w.KNorm, Config.RmsNormEps);
    }

    private void ApplyRope(int[] positions, int start, int end)
    {
        var s = _scratch;
        for (int t = start; t < end; t++)
        {
            _rope.Apply(s.Q.Slice((long)t * Config.QSize, Config.QSize), Config.NumAttentionHeads, positions[t]);
            _rope.Apply(s.K.Slice((long)t * Config.KvSize, Config.KvSize), Config.NumKeyValueHeads, positions[t]);
        }
    }

    /// <summary>Stores each new token's K and V rows in its slot: block BlockTable[p / blockSize], offset p % blockSize.</summary>
    private void WriteKv(int layer, ForwardBatch batch, int start, int end)
    {
        var s = _scratch;
        int kvSize = Config.KvSize;
        int blockSize = _cache.BlockSize;
        for (int t = start; t < end; t++)
        {
            int p = batch.Positions[t];
            int block = batch.Seqs[s.TokenSeq[t]].BlockTable[p / blockSize];
            _cache.Write(block, layer, p % blockSize, s.K.Slice((long)t * kvSize, kvSize), s.V.Slice((long)t * kvSize, kvSize));
        }
    }

    private static void AddInPlace(ScratchBuffer x, ScratchBuffer y, long start, int count) =>
        TensorPrimitives.Add(x.Slice(start, count), y.Slice(start, count), x.Slice(start, count));

    /// <summary>Final norm and lm_head for the requested rows only (prefill tokens skip the vocabulary GEMM).</summary>
    private Span<float> ComputeLogits(ForwardBatch batch)
    {
        int rows = batch.NumLogits;
        if (rows == 0) return Span<float>.Empty; // a prompt chunk that is not the prompt's end wants no logits
        var s = _scratch;
        int h = Config.HiddenSize;
        for (int i = 0; i < rows; i++)
            Norms.RmsNorm(s.Hidden.Slice((long)batch.LogitsIndices[i] * h, h), _weights.FinalNorm, Config.RmsNormEps, s.Normed.Slice((long)i * h, h));
        _linear.Run(_weights.LmHead, s.Normed.Pointer, rows, s.Logits.Pointer);
        return s.Logits.Slice(0, rows * Config.VocabSize);
    }

    private static int MaxPosition(ForwardBatch batch)
    {
        int max = 0;
        for (int t = 0; t < batch.NumTokens; t++) max = Math.Max(max, batch.Positions[t]);
        return max;
    }
}
