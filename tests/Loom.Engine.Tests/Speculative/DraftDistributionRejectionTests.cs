using Loom.Core.Sampling;
using Loom.Engine.Sampling;

namespace Loom.Engine.Tests.Speculative;

/// <summary>
/// The general rejection rule (draft drawn from q, accepted with min(1, p/q), else a draw from max(0, p - q)
/// normalised): over many seeds the emitted tokens follow the target p (chi-square at α = 0.001, as
/// <see cref="RejectionSamplerTests"/>) for a q close to p, far from it and disjoint from its support, and the
/// acceptance rate is Σ min(p, q) (a z-test at the same level); the same seed verifies the same way.
/// </summary>
public class DraftDistributionRejectionTests
{
    private static readonly float[] Logits = [2.0f, 1.0f, 0.5f, 0.0f, -0.5f, 1.5f];
    private const int Draws = 20_000;

    public static TheoryData<string, int> Cases => new()
    {
        // q, top_k of the target
        { "close", 0 },
        { "far", 0 },
        { "uniform", 3 },   // q puts mass on tokens top-k removed from p
        { "disjoint", 3 },  // q only on tokens outside p's support: every draft is rejected
        { "equal", 0 },     // q = p: every draft is accepted
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Emitted_tokens_follow_the_target_whatever_q_is(string qName, int topK)
    {
        var p = RejectionSamplerTests.Target(Logits, 1f, topK, 1f);
        var q = DraftDistribution(qName, p);
        var qRow = q.Select(x => (float)x).ToArray();
        var sampling = new SamplingParams { Temperature = 1f, TopK = topK, MaxTokens = 4 };
        var counts = new long[Logits.Length];
        var scratch = new SamplerScratch();
        int accepts = 0;
        for (int seed = 0; seed < Draws; seed++)
        {
            int draft = DrawFrom(q, new Random(seed));
            var sampler = new Sampler((sampling with { Seed = seed }).Validate(), [], Logits.Length, []);
            var token = sampler.SampleAgainstDraft((float[])Logits.Clone(), draft, qRow, scratch, out bool accepted);
            Assert.Equal(token.TokenId == draft, accepted);
            accepts += accepted ? 1 : 0;
            counts[token.TokenId]++;
        }
        RejectionSamplerTests.AssertMatches(p, counts);
        AssertAcceptanceRate(p.Zip(q, Math.Min).Sum(), accepts);
    }

    [Fact]
    public void Same_seed_same_verification()
    {
        var p = RejectionSamplerTests.Target(Logits, 1f, 0, 1f);
        var q = DraftDistribution("far", p).Select(x => (float)x).ToArray();
        var sampling = new SamplingParams { Temperature = 1f, Seed = 11, MaxTokens = 50 }.Validate();
        var a = new Sampler(sampling, [], Logits.Length, []);
        var b = new Sampler(sampling, [], Logits.Length, []);
        var scratch = new SamplerScratch();
        for (int i = 0; i < 40; i++)
            Assert.Equal(a.SampleAgainstDraft((float[])Logits.Clone(), i % 6, q, scratch, out _).TokenId,
                b.SampleAgainstDraft((float[])Logits.Clone(), i % 6, q, scratch, out _).TokenId);
    }

    [Fact]
    public void A_draft_distribution_of_the_wrong_size_is_refused()
    {
        var sampler = new Sampler(new SamplingParams { Temperature = 1f, MaxTokens = 4 }.Validate(), [], Logits.Length, []);
        var e = Assert.Throws<ArgumentException>(() => sampler.SampleAgainstDraft((float[])Logits.Clone(), 0, new float[3], new SamplerScratch(), out _));
        Assert.Equal("draftProbs", e.ParamName);
    }

    private static double[] DraftDistribution(string name, double[] p) => name switch
    {
        "close" => Normalise(p.Select((x, i) => x * (1 + 0.1 * ((i % 3) - 1)))),
        "far" => Normalise(p.Select(x => 1.0 / (x + 0.02))),                  // favours what p finds unlikely
        "uniform" => [.. p.Select(_ => 1.0 / p.Length)],
        "disjoint" => Normalise(p.Select(x => x == 0 ? 1.0 : 0.0)),
        "equal" => p,
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static double[] Normalise(IEnumerable<double> weights)
    {
        var w = weights.ToArray();
        double total = w.Sum();
        return [.. w.Select(x => x / total)];
    }

    private static int DrawFrom(double[] q, Random random)
    {
        double u = random.NextDouble(), cumulative = 0;
        for (int i = 0; i < q.Length; i++)
            if (q[i] > 0 && u < (cumulative += q[i])) return i;
        return Array.FindLastIndex(q, x => x > 0);
    }

    /// <summary>accepts ~ Binomial(Draws, Σ min(p, q)); |z| under 3.29 is the two-sided test at α = 0.001.</summary>
    private static void AssertAcceptanceRate(double expected, int accepts)
    {
        if (expected is 0 or 1)
        {
            Assert.Equal(expected * Draws, accepts);
            return;
        }
        double z = (accepts - expected * Draws) / Math.Sqrt(Draws * expected * (1 - expected));
        Assert.True(Math.Abs(z) < 3.29, $"accepted {accepts} of {Draws}, expected rate {expected:F4} (z = {z:F2})");
    }
}
