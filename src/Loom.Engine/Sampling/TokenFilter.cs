using System.Numerics.Tensors;

namespace Loom.Engine.Sampling;

/// <summary>The tokens left after top-k, top-p and min-p, most likely first, with unnormalised weights exp(logit - max).</summary>
public readonly ref struct CandidateSet(ReadOnlySpan<int> tokenIds, ReadOnlySpan<float> weights)
{
    public ReadOnlySpan<int> TokenIds { get; } = tokenIds;
    public ReadOnlySpan<float> Weights { get; } = weights;
    public int Count => TokenIds.Length;
}

/// <summary>
/// top-k, then top-p, then min-p over temperature-scaled logits, with vLLM's semantics: top-k keeps every token tied
/// with the k-th; top-p keeps a token while the probability mass ranked strictly above it is below p (renormalised over
/// the top-k survivors); min-p keeps tokens whose probability is at least min_p times the top token's.
/// Sorting a 150k vocabulary every token is the cost to avoid: only tokens within <see cref="CandidateWindow"/> of the
/// best logit are sorted when that provably contains every survivor; otherwise the whole vocabulary is.
/// </summary>
public static class TokenFilter
{
    /// <summary>Logits further than this below the maximum are collected only when needed (relative probability e^-10).</summary>
    private const float CandidateWindow = 10f;

    public static CandidateSet Apply(ReadOnlySpan<float> logits, int topK, float topP, float minP, SamplerScratch scratch)
    {
        int vocab = logits.Length;
        scratch.EnsureCapacity(vocab);
        bool useTopK = topK > 0 && topK < vocab;
        bool useTopP = topP < 1f;
        bool useMinP = minP > 0f;
        float max = TensorPrimitives.Max(logits);
        if (float.IsNegativeInfinity(max) || float.IsNaN(max))
            throw new InvalidOperationException($"Cannot sample: the logits row has no finite maximum ({max}).");

        // Without top-k, top-p normalises over the whole row: its mass is needed whatever the window holds.
        double rowMass = useTopP && !useTopK ? MassOfRow(logits, max, scratch.Weights) : 0;
        int count = Collect(logits, max - CandidateWindow, scratch);
        if (!WindowHoldsSurvivors(vocab, max, count, topK, topP, minP, rowMass, scratch))
            count = Collect(logits, float.MinValue, scratch);

        var keys = scratch.SortKeys.AsSpan(0, count);
        var ids = scratch.CandidateIds.AsSpan(0, count);
        keys.Sort(ids);

        int keep = count;
        if (useTopK && topK < keep)
        {
            keep = topK;
            float kth = keys[topK - 1];
            while (keep < count && keys[keep] == kth) keep++;
        }
        var weights = scratch.Weights.AsSpan(0, keep);
        for (int j = 0; j < keep; j++) weights[j] = MathF.Exp(-keys[j] - max);

        if (useTopP) keep = CutTopP(weights, topP, useTopK ? Sum(weights) : rowMass);
        if (useMinP) keep = CutMinP(weights[..keep], minP);
        return new CandidateSet(ids[..keep], scratch.Weights.AsSpan(0, keep));
    }

    /// <summary>Collects tokens with logit at or above threshold (never -inf) as sort keys -logit.</summary>
    private static int Collect(ReadOnlySpan<float> logits, float threshold, SamplerScratch scratch)
    {
        var keys = scratch.SortKeys;
        var ids = scratch.CandidateIds;
        int count = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float x = logits[i];
            if (x >= threshold && x > float.NegativeInfinity)
            {
                keys[count] = -x;
                ids[count] = i;
                count++;
            }
        }
        return count;
    }

    /// <summary>Whether the window's candidates contain every token the filters would keep (any one filter inside suffices).</summary>
    private static bool WindowHoldsSurvivors(int vocab, float max, int count, int topK, float topP, float minP, double rowMass,
        SamplerScratch scratch)
    {
        bool useTopK = topK > 0 && topK < vocab;
        bool useTopP = topP < 1f;
        if (useTopK && count >= topK) return true;
        // top-p after a top-k that reaches outside the window needs that set's mass: sort everything.
        if (useTopK && useTopP) return false;
        if (minP > 0f && MathF.Log(minP) >= -CandidateWindow) return true;
        if (!useTopP) return false;
        double windowMass = 0;
        for (int j = 0; j < count; j++) windowMass += MathF.Exp(-scratch.SortKeys[j] - max);
        return windowMass >= topP * rowMass;
    }

    /// <summary>Σ exp(logit - max) over the whole row, vectorised through a [vocab] work buffer.</summary>
    private static double MassOfRow(ReadOnlySpan<float> logits, float max, float[] work)
    {
        var exp = work.AsSpan(0, logits.Length);
        TensorPrimitives.Subtract(logits, max, exp);
        TensorPrimitives.Exp(exp, exp);
        return Sum(exp);
    }

    private static int CutTopP(ReadOnlySpan<float> weights, float topP, double totalMass)
    {
        double limit = topP * totalMass, above = 0;
        int j = 0;
        for (; j < weights.Length; j++)
        {
            if (j > 0 && above >= limit) break;
            above += weights[j];
        }
        return j;
    }

    private static int CutMinP(ReadOnlySpan<float> weights, float minP)
    {
        int j = 1; // weights[0] == 1: the top token always survives
        while (j < weights.Length && weights[j] >= minP) j++;
        return j;
    }

    private static double Sum(ReadOnlySpan<float> weights)
    {
        double s = 0;
        foreach (float w in weights) s += w;
        return s;
    }
}
