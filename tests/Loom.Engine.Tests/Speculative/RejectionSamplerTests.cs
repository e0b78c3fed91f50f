using Loom.Core.Sampling;
using Loom.Engine.Sampling;

namespace Loom.Engine.Tests.Speculative;

/// <summary>
/// The rejection rule for q = 1 drafts (n-gram): over many seeds, the tokens <see cref="Sampler.SampleAgainstDraft(Span{float}, int, SamplerScratch, out bool)"/>
/// emits follow the target distribution p exactly (chi-square at α = 0.001), whether the draft is likely, unlikely or
/// filtered out by top-k/top-p, and after penalties and logit_bias; greedy accepts exactly the argmax.
/// </summary>
public class RejectionSamplerTests
{
    private static readonly float[] Logits = [2.0f, 1.0f, 0.5f, 0.0f, -0.5f, 1.5f];
    private const int Draws = 20_000;
    /// <summary>Chi-square quantiles at 1 - 0.001 for 1..5 degrees of freedom.</summary>
    private static readonly double[] Critical = [10.83, 13.82, 16.27, 18.47, 20.52];

    public static TheoryData<int, int, float, float> Cases => new()
    {
        // draft, top_k, top_p, temperature
        { 0, 0, 1f, 1f },     // the most likely token
        { 4, 0, 1f, 1f },     // an unlikely one
        { 1, 0, 1f, 0.7f },
        { 4, 3, 1f, 1f },     // outside top-k: always rejected
        { 5, 3, 1f, 1.3f },   // inside top-k
        { 2, 0, 0.8f, 1f },   // near the top-p edge
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Emitted_tokens_follow_the_target_distribution(int draft, int topK, float topP, float temperature)
    {
        var p = new SamplingParams { Temperature = temperature, TopK = topK, TopP = topP, MaxTokens = 4 };
        var counts = new long[Logits.Length];
        var scratch = new SamplerScratch();
        for (int seed = 0; seed < Draws; seed++)
        {
            var sampler = new Sampler((p with { Seed = seed }).Validate(), [], Logits.Length, []);
            var token = sampler.SampleAgainstDraft((float[])Logits.Clone(), draft, scratch, out bool accepted);
            Assert.Equal(token.TokenId == draft, accepted);
            Assert.Equal(1, sampler.NumOutputTokens);
            counts[token.TokenId]++;
        }
        AssertMatches(Target(Logits, temperature, topK, topP), counts);
    }

    [Fact]
    public void Penalties_and_logit_bias_shape_the_verified_distribution()
    {
        // Token 0 seen once in the output with frequency penalty 1.5, token 3 biased by +2: p is the processed row's.
        var p = new SamplingParams { Temperature = 1f, FrequencyPenalty = 1.5f, LogitBias = new Dictionary<int, float> { [3] = 2f }, MaxTokens = 8 };
        var counts = new long[Logits.Length];
        var scratch = new SamplerScratch();
        for (int seed = 0; seed < Draws; seed++)
        {
            var sampler = new Sampler((p with { Seed = seed }).Validate(), [], Logits.Length, []);
            sampler.Commit(0);
            counts[sampler.SampleAgainstDraft((float[])Logits.Clone(), 3, scratch, out _).TokenId]++;
        }
        float[] processed = [.. Logits];
        processed[0] -= 1.5f;
        processed[3] += 2f;
        AssertMatches(Target(processed, 1f, 0, 1f), counts);
    }

    [Fact]
    public void Greedy_accepts_exactly_the_argmax()
    {
        var greedy = new SamplingParams { Temperature = 0, MaxTokens = 4 }.Validate();
        var scratch = new SamplerScratch();
        for (int draft = 0; draft < Logits.Length; draft++)
        {
            var token = new Sampler(greedy, [], Logits.Length, []).SampleAgainstDraft((float[])Logits.Clone(), draft, scratch, out bool accepted);
            Assert.Equal((0, draft == 0), (token.TokenId, accepted));
        }
    }

    [Fact]
    public void Same_seed_same_verification()
    {
        var p = new SamplingParams { Temperature = 1f, Seed = 3, MaxTokens = 50 }.Validate();
        var a = new Sampler(p, [], Logits.Length, []);
        var b = new Sampler(p, [], Logits.Length, []);
        var scratch = new SamplerScratch();
        for (int i = 0; i < 40; i++)
            Assert.Equal(a.SampleAgainstDraft((float[])Logits.Clone(), i % 6, scratch, out _).TokenId,
                b.SampleAgainstDraft((float[])Logits.Clone(), i % 6, scratch, out _).TokenId);
    }

    /// <summary>softmax(logits / T), then vLLM's top-k and top-p cuts, renormalised.</summary>
    internal static double[] Target(float[] logits, float temperature, int topK, float topP)
    {
        var weights = logits.Select(x => Math.Exp(x / temperature)).ToArray();
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => weights[i]).ToArray();
        int keep = topK > 0 ? topK : logits.Length;
        double total = order.Take(keep).Sum(i => weights[i]), above = 0;
        int kept = 0;
        while (kept < keep && (kept == 0 || above < topP * total)) above += weights[order[kept++]];
        var target = new double[logits.Length];
        double mass = order.Take(kept).Sum(i => weights[i]);
        foreach (int i in order.Take(kept)) target[i] = weights[i] / mass;
        return target;
    }

    internal static void AssertMatches(double[] target, long[] counts)
    {
        double chi2 = 0;
        int cells = 0;
        for (int i = 0; i < target.Length; i++)
        {
            if (target[i] == 0)
            {
                Assert.True(counts[i] == 0, $"token {i} is outside the target's support but was emitted {counts[i]} times");
                continue;
            }
            double expected = target[i] * Draws;
            chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
            cells++;
        }
        Assert.True(chi2 < Critical[cells - 2], $"chi-square {chi2:F2} over {cells} cells: counts [{string.Join(", ", counts)}], target [{string.Join(", ", target.Select(t => t.ToString("F3")))}]");
    }
}
