using Loom.Engine.Sampling;
using CsCheck;

namespace Loom.Engine.Tests.Sampling;

public class TokenFilterTests
{
    // Probabilities 0.5, 0.3, 0.15, 0.05 as logits (softmax of ln p is p).
    private static readonly float[] FourTokens = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.15f), MathF.Log(0.05f)];

    private static int[] Kept(float[] logits, int topK = 0, float topP = 1f, float minP = 0f)
    {
        var set = TokenFilter.Apply(logits, topK, topP, minP, new SamplerScratch());
        return [.. set.TokenIds.ToArray().Order()];
    }

    [Fact]
    public void TopKKeepsTheKBestAndEveryTokenTiedWithTheKth()
    {
        float[] logits = [1, 5, 3, 5, 2, 0];
        Assert.Equal([1, 3], Kept(logits, topK: 1)); // the two 5s tie for first
        Assert.Equal([1, 3], Kept(logits, topK: 2));
        Assert.Equal([1, 2, 3], Kept(logits, topK: 3));
        Assert.Equal([0, 1, 2, 3, 4], Kept(logits, topK: 5));
    }

    [Theory]
    [InlineData(0.4f, new[] { 0 })]          // 0 above token 0 < 0.4; 0.5 above token 1
    [InlineData(0.75f, new[] { 0, 1 })]      // 0.8 above token 2
    [InlineData(0.85f, new[] { 0, 1, 2 })]
    [InlineData(0.99f, new[] { 0, 1, 2, 3 })]
    public void TopPKeepsTokensWhileTheMassAboveThemIsBelowP(float topP, int[] expected) =>
        Assert.Equal(expected, Kept(FourTokens, topP: topP));

    [Theory]
    [InlineData(0.25f, new[] { 0, 1, 2 })]   // threshold 0.125
    [InlineData(0.5f, new[] { 0, 1 })]       // threshold 0.25
    [InlineData(0.7f, new[] { 0 })]          // threshold 0.35
    public void MinPKeepsTokensAtLeastMinPTimesTheTopProbability(float minP, int[] expected) =>
        Assert.Equal(expected, Kept(FourTokens, minP: minP));

    [Fact]
    public void TopPIsRenormalisedOverTheTopKSurvivors()
    {
        Assert.Equal([0, 1], Kept(FourTokens, topP: 0.6f));          // 0.5 above token 1 over the full row
        Assert.Equal([0], Kept(FourTokens, topK: 2, topP: 0.6f));    // 0.625 above token 1 within the top 2
    }

    [Fact]
    public void WeightsAreExpOfLogitMinusMaxBestFirst()
    {
        var set = TokenFilter.Apply(FourTokens, 0, 0.99f, 0, new SamplerScratch());
        Assert.Equal([0, 1, 2, 3], set.TokenIds.ToArray());
        float[] expected = [1f, 0.6f, 0.3f, 0.1f];
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], set.Weights[i], 1e-5f);
    }

    [Fact]
    public void MaskedTokensAreNeverCandidates()
    {
        float[] logits = [float.NegativeInfinity, 1, float.NegativeInfinity, 0];
        Assert.Equal([1, 3], Kept(logits, topP: 0.999f));
    }

    /// <summary>The windowed fast path must keep exactly what sorting the whole vocabulary keeps.</summary>
    [Fact]
    public void WindowedFilterEqualsAFullSortReference()
    {
        var gen = Gen.Select(Gen.Int[0, 40], Gen.Float[0.05f, 1f], Gen.Float[0f, 0.2f], Gen.Float[0.5f, 30f], Gen.Int[0, 1000]);
        gen.Sample((topK, topP, minP, spread, seed) =>
        {
            var rng = new Random(seed);
            var logits = new float[3000];
            for (int i = 0; i < logits.Length; i++) logits[i] = (float)(rng.NextDouble() * spread);
            Assert.Equal(ReferenceKept(logits, topK, topP, minP), Kept(logits, topK, topP, minP));
        }, iter: 200);
    }

    private static int[] ReferenceKept(float[] logits, int topK, float topP, float minP)
    {
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ToArray();
        float max = logits[order[0]];
        int keep = order.Length;
        if (topK > 0 && topK < keep)
        {
            float kth = logits[order[topK - 1]];
            keep = order.Count(i => logits[i] >= kth);
        }
        if (topP < 1f)
        {
            double z = order.Take(keep).Sum(i => (double)MathF.Exp(logits[i] - max)), above = 0;
            int j = 0;
            for (; j < keep; j++)
            {
                if (j > 0 && above >= topP * z) break;
                above += MathF.Exp(logits[order[j]] - max);
            }
            keep = j;
        }
        if (minP > 0f) keep = Math.Max(1, order.Take(keep).Count(i => MathF.Exp(logits[i] - max) >= minP));
        return [.. order.Take(keep).Order()];
    }
}
