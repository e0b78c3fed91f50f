using Loom.Core.Sampling;
using Loom.Engine.Sampling;
using Loom.Engine.Tests.Engine;

namespace Loom.Engine.Tests.Speculative;

/// <summary>
/// Sampled drafts (method draft_model at temperature > 0): the draft model draws each draft from q, its row through
/// the request's own processors, temperature and filters, and the verifier's general rule makes the output exactly
/// plain decoding's. Proved on the sampler (q is the target's distribution of the row and the draws follow it; the
/// tentative commits are taken back) and through the engine (the joint distribution of three sampled tokens at
/// temperature 1 with a Q4_0 self-draft matches plain decoding's, chi-square at α = 0.001; a self-draft is
/// accepted always, penalties and logit_bias included, so q equals p position by position; seeded runs repeat).
/// </summary>
public class SampledDraftTests
{
    private static readonly float[] Logits = [2.0f, 1.0f, 0.5f, 0.0f, -0.5f, 1.5f];

    [Theory]
    [InlineData(1f, 0, 1f)]
    [InlineData(0.7f, 4, 0.9f)]
    public void A_draft_is_drawn_from_the_targets_distribution_of_its_row(float temperature, int topK, float topP)
    {
        var p = RejectionSamplerTests.Target(Logits, temperature, topK, topP);
        var sampling = new SamplingParams { Temperature = temperature, TopK = topK, TopP = topP, MaxTokens = 4 };
        var counts = new long[Logits.Length];
        var q = new float[Logits.Length];
        var scratch = new SamplerScratch();
        for (int seed = 0; seed < 20_000; seed++)
        {
            var sampler = new Sampler((sampling with { Seed = seed }).Validate(), [], Logits.Length, []);
            int token = sampler.Draft((float[])Logits.Clone(), q, scratch);
            counts[token]++;
            if (seed == 0)
                for (int i = 0; i < q.Length; i++) Assert.Equal(p[i], q[i], 5);
        }
        RejectionSamplerTests.AssertMatches(p, counts);
    }

    [Fact]
    public void Drafts_are_committed_tentatively_and_taken_back()
    {
        var sampling = new SamplingParams
        {
            Temperature = 1f, Seed = 5, MaxTokens = 20, MinTokens = 2, FrequencyPenalty = 0.5f, PresencePenalty = 0.3f, RepetitionPenalty = 1.2f,
        }.Validate();
        var sampler = new Sampler(sampling, [1, 2], Logits.Length, eosTokenIds: [0]);
        sampler.Commit(sampler.Score((float[])Logits.Clone(), new SamplerScratch()).TokenId);
        var before = Processed(sampler);
        var q = new float[Logits.Length];
        var scratch = new SamplerScratch();
        int[] drafts = [.. Enumerable.Range(0, 3).Select(_ => sampler.Draft((float[])Logits.Clone(), q, scratch))];
        Assert.Equal(4, sampler.NumOutputTokens);
        Assert.NotEqual(before, Processed(sampler)); // the drafts were counted while drafting
        sampler.UndoDrafts(drafts);
        Assert.Equal(1, sampler.NumOutputTokens);
        Assert.Equal(before, Processed(sampler));
    }

    /// <summary>The row the sampler would draw the next token from, after its processors and temperature.</summary>
    private static float[] Processed(Sampler sampler)
    {
        var row = (float[])Logits.Clone();
        sampler.Score(row, new SamplerScratch());
        return row;
    }

    /// <summary>
    /// 600 seeded requests with a Q4_0 self-draft and 600 without (other seeds: independent samples), three tokens each
    /// at temperature 1, top_k 3 (27 sequences at most): a two-sample chi-square over the sequences. The first token
    /// is plain sampling either way; the second is a verified draft, accepted or replaced from the residual, the third
    /// the bonus token or a plain one. (A draft taken as the argmax but verified as drawn from q fails it: chi-square
    /// ~230 over 26 degrees of freedom.) A draft whose q is disjoint from p is rejected always and proves nothing here:
    /// <see cref="DraftDistributionRejectionTests"/> covers it.
    /// </summary>
    [Fact]
    public void Sampled_drafts_keep_the_distribution_of_plain_decoding()
    {
        const int N = 600;
        var model = FixtureModel.Get("llama-gqa");
        var prompt = model.Prompt(8, seed: 21);
        var sampling = new SamplingParams { Temperature = 1f, TopK = 3, MaxTokens = 3, IgnoreEos = true };
        var plain = Sequences(model, prompt, sampling, N, seedBase: 0, draft: null);
        var spec = Sequences(model, prompt, sampling, N, seedBase: N, draft: model.Q4Draft);
        var (chi2, df) = TwoSampleChiSquare(plain.Counts, spec.Counts);
        Assert.True(chi2 < ChiSquareQuantile999(df), $"chi-square {chi2:F1} over {df} degrees of freedom: plain [{Show(plain.Counts)}], spec [{Show(spec.Counts)}]");
        Assert.True(spec.Stats.NumDraftTokens >= N, $"{spec.Stats.NumDraftTokens} drafts");
        // Both ways out of the rule ran often: the draft accepted, and the residual draw (about a third accepted here).
        Assert.True(spec.Stats.NumAcceptedTokens > N / 10 && spec.Stats.NumAcceptedTokens < spec.Stats.NumDraftTokens - N / 10,
            $"{spec.Stats.NumAcceptedTokens} of {spec.Stats.NumDraftTokens} drafts accepted");
    }

    /// <summary>
    /// The model as its own draft, sampled: q is p at every drafted position (the draft sees the earlier drafts through
    /// the penalties exactly as the verifier does), so min(1, p/q) = 1 and every draft stands. Greedy drafts would stand
    /// only with probability p(d).
    /// </summary>
    [Fact]
    public void A_sampled_self_draft_is_always_accepted()
    {
        var model = FixtureModel.Get("llama-gqa");
        var sampling = new SamplingParams
        {
            Temperature = 1f, TopK = 50, TopP = 0.95f, FrequencyPenalty = 0.4f, PresencePenalty = 0.2f, Seed = 3, MaxTokens = 24,
            IgnoreEos = true, LogitBias = new Dictionary<int, float> { [7] = 2f, [9] = -1f },
        };
        using var spec = Run(model, SpeculativeGreedyTests.Prompts(model, 4), sampling, model.SelfDraft);
        var stats = spec.Engine.GetStats().SpecDecoding!;
        Assert.True(stats.NumDraftTokens > 40 && stats.NumAcceptedTokens >= 0.97 * stats.NumDraftTokens,
            $"{stats.NumAcceptedTokens} of {stats.NumDraftTokens} drafts accepted");
    }

    [Fact]
    public void Seeded_sampled_drafts_repeat()
    {
        var model = FixtureModel.Get("llama-gqa");
        var prompts = SpeculativeGreedyTests.Prompts(model, 6);
        var sampling = new SamplingParams { Temperature = 1f, Seed = 17, MaxTokens = 20, IgnoreEos = true, PresencePenalty = 0.3f };
        using var first = Run(model, prompts, sampling, model.Q4Draft);
        using var second = Run(model, prompts, sampling, model.Q4Draft);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(first.Tokens[$"r{i}"], second.Tokens[$"r{i}"]);
        Assert.True(first.Engine.GetStats().SpecDecoding!.NumAcceptedTokens > 0);
    }

    private static readonly EngineOptions Options = new()
    {
        BlockSize = 4, MaxNumSeqs = 64, MaxNumBatchedTokens = 512, Speculative = DraftModelGreedyTests.DraftModel,
    };

    private static TestEngine Run(FixtureModel model, int[][] prompts, SamplingParams sampling, DraftWeights draft)
    {
        var engine = model.CreateEngine(Options, 512, maxModelLen: 256, draft: draft);
        for (int i = 0; i < prompts.Length; i++) engine.Add($"r{i}", prompts[i], sampling);
        engine.RunToCompletion();
        return engine;
    }

    /// <summary>How often each output sequence came out of <paramref name="n"/> requests seeded seedBase.. (prefix cache on: one prompt).</summary>
    private static (Dictionary<string, int> Counts, SpecDecodingStatsView Stats) Sequences(FixtureModel model, int[] prompt,
        SamplingParams sampling, int n, int seedBase, DraftWeights? draft)
    {
        var options = draft is null ? Options with { Speculative = null } : Options;
        using var engine = model.CreateEngine(options with { EnablePrefixCaching = true }, 1024, maxModelLen: 64, draft: draft);
        for (int i = 0; i < n; i++) engine.Add($"r{i}", prompt, sampling with { Seed = seedBase + i });
        engine.RunToCompletion();
        var counts = new Dictionary<string, int>();
        for (int i = 0; i < n; i++)
        {
            string key = string.Join(",", engine.Tokens[$"r{i}"]);
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        var stats = engine.Engine.GetStats().SpecDecoding;
        return (counts, new SpecDecodingStatsView(stats?.NumDraftTokens ?? 0, stats?.NumAcceptedTokens ?? 0));
    }

    private readonly record struct SpecDecodingStatsView(long NumDraftTokens, long NumAcceptedTokens);

    /// <summary>Pearson's test of homogeneity for two equal-sized samples; sequences seen fewer than 10 times in all are pooled.</summary>
    private static (double Chi2, int Df) TwoSampleChiSquare(Dictionary<string, int> a, Dictionary<string, int> b)
    {
        var cells = new List<(int A, int B)>();
        (int A, int B) rare = (0, 0);
        foreach (var key in a.Keys.Union(b.Keys))
        {
            var cell = (a.GetValueOrDefault(key), b.GetValueOrDefault(key));
            if (cell.Item1 + cell.Item2 >= 10) cells.Add(cell);
            else rare = (rare.A + cell.Item1, rare.B + cell.Item2);
        }
        if (rare.A + rare.B > 0) cells.Add(rare);
        double chi2 = 0;
        foreach (var (x, y) in cells)
        {
            double expected = (x + y) / 2.0; // equal sample sizes
            chi2 += ((x - expected) * (x - expected) + (y - expected) * (y - expected)) / expected;
        }
        return (chi2, cells.Count - 1);
    }

    /// <summary>The 0.999 quantile of chi-square with <paramref name="df"/> degrees of freedom (Wilson-Hilferty; z = 3.0902).</summary>
    private static double ChiSquareQuantile999(int df)
    {
        double h = 2.0 / (9 * df);
        return df * Math.Pow(1 - h + 3.0902 * Math.Sqrt(h), 3);
    }

    private static string Show(Dictionary<string, int> counts) =>
        string.Join("; ", counts.OrderByDescending(c => c.Value).Take(12).Select(c => $"{c.Key}: {c.Value}"));
}
