using System.Numerics.Tensors;
using Loom.Core.Sampling;

namespace Loom.Engine.Sampling;

/// <summary>
/// Log-probabilities as vLLM V1 returns them by default ("raw_logprobs"): log-softmax of the model's logits before
/// penalties, temperature or filtering, for the sampled token and the top N.
/// </summary>
internal static class LogprobCalculator
{
    public static TokenLogprob Compute(ReadOnlySpan<float> rawLogits, int sampledToken, int topN, SamplerScratch scratch)
    {
        float max = TensorPrimitives.Max(rawLogits);
        var work = scratch.Weights.AsSpan(0, rawLogits.Length);
        TensorPrimitives.Subtract(rawLogits, max, work);
        TensorPrimitives.Exp(work, work);
        float logSumExp = max + MathF.Log(TensorPrimitives.Sum(work));

        int found = SelectTop(rawLogits, Math.Min(topN, rawLogits.Length), scratch.TopIds, scratch.TopValues);
        var top = new (int TokenId, float Logprob)[found];
        for (int i = 0; i < found; i++) top[i] = (scratch.TopIds[i], scratch.TopValues[i] - logSumExp);
        return new TokenLogprob(sampledToken, rawLogits[sampledToken] - logSumExp, top);
    }

    /// <summary>The n largest values, best first (ties: lower id first), by insertion into a short sorted list.</summary>
    private static int SelectTop(ReadOnlySpan<float> values, int n, int[] ids, float[] best)
    {
        int count = 0;
        for (int i = 0; i < values.Length && n > 0; i++)
        {
            float v = values[i];
            if (count == n && !(v > best[n - 1])) continue;
            int j = count < n ? count++ : n - 1;
            while (j > 0 && v > best[j - 1])
            {
                best[j] = best[j - 1];
                ids[j] = ids[j - 1];
                j--;
            }
            best[j] = v;
            ids[j] = i;
        }
        return count;
    }
}
