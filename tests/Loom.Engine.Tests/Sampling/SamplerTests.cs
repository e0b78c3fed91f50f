using Loom.Core.Sampling;
using Loom.Engine.Sampling;
using CsCheck;

namespace Loom.Engine.Tests.Sampling;

public class SamplerTests
{
    private static readonly int[] NoEos = [];

    private static Sampler Make(SamplingParams p, int vocab, int[]? prompt = null, int[]? eos = null) =>
        new(p.Validate(), prompt ?? [], vocab, eos ?? NoEos);

    [Fact]
    public void GreedyIsTheArgmaxOfTheRow()
    {
        Gen.Float[-20f, 20f].Array[2, 500].Sample(row =>
        {
            var sampler = Make(new SamplingParams { Temperature = 0 }, row.Length);
            int expected = Array.IndexOf(row, row.Max());
            Assert.Equal(expected, sampler.Sample(row.ToArray(), new SamplerScratch()).TokenId);
        });
    }

    [Fact]
    public void PenaltiesFollowVllmExactly()
    {
        var p = new SamplingParams { Temperature = 0, RepetitionPenalty = 2f, FrequencyPenalty = 0.5f, PresencePenalty = 0.25f };
        var sampler = Make(p, 4, prompt: [0]);
        var scratch = new SamplerScratch();
        Assert.Equal(2, sampler.Sample([0f, 0f, 9f, 0f], scratch).TokenId); // output so far: [2]

        float[] row = [2f, -2f, 1f, 0.5f];
        int next = sampler.Sample(row, scratch).TokenId;
        // token 0 (prompt): 2 / 2; token 1 unseen; token 2 (output once): 1 / 2 - 0.5 * 1 - 0.25; token 3 unseen.
        Assert.Equal([1f, -2f, -0.25f, 0.5f], row);
        Assert.Equal(0, next);

        float[] again = [-1f, 0f, 3f, 0f];
        sampler.Sample(again, scratch); // output now [2, 0]: token 0 negative and seen -> multiplied
        Assert.Equal([-2f - 0.5f - 0.25f, 0f, 3f / 2 - 0.5f - 0.25f, 0f], again);
    }

    [Fact]
    public void RepetitionPenaltyIgnoresThePromptForFrequencyAndPresence()
    {
        var sampler = Make(new SamplingParams { Temperature = 0, FrequencyPenalty = 1f, PresencePenalty = 1f }, 3, prompt: [0, 0, 1]);
        float[] row = [1f, 1f, 0f];
        sampler.Sample(row, new SamplerScratch());
        Assert.Equal([1f, 1f, 0f], row);
    }

    [Fact]
    public void MinTokensMasksEosAndStopIdsUntilReached()
    {
        var p = new SamplingParams { Temperature = 0, MinTokens = 2, MaxTokens = 8, StopTokenIds = [1] };
        var sampler = Make(p, 4, eos: [3]);
        var scratch = new SamplerScratch();
        Assert.Equal(1 - 1 + 2, sampler.Sample([0f, 5f, 1f, 9f], scratch).TokenId); // 3 and 1 masked -> 2
        Assert.Equal(2, sampler.Sample([0f, 5f, 1f, 9f], scratch).TokenId);
        Assert.Equal(3, sampler.Sample([0f, 5f, 1f, 9f], scratch).TokenId);
    }

    [Fact]
    public void IgnoreEosDoesNotMaskEosDuringMinTokens()
    {
        var sampler = Make(new SamplingParams { Temperature = 0, MinTokens = 2, IgnoreEos = true }, 3, eos: [2]);
        Assert.Equal(2, sampler.Sample([0f, 1f, 5f], new SamplerScratch()).TokenId);
    }

    [Fact]
    public void SeededDrawsRepeatAndDoNotDependOnTheBatch()
    {
        var p = new SamplingParams { Temperature = 0.8f, TopP = 0.95f, Seed = 1234, MaxTokens = 64 };
        float[] Row(int step) => [.. Enumerable.Range(0, 50).Select(i => MathF.Sin(i * 0.37f + step))];

        int[] Alone()
        {
            var s = Make(p, 50);
            var scratch = new SamplerScratch();
            return [.. Enumerable.Range(0, 64).Select(step => s.Sample(Row(step), scratch).TokenId)];
        }

        int[] InABatch()
        {
            var batch = new BatchSampler();
            Sampler[] samplers = [Make(new SamplingParams { Temperature = 1f }, 50), Make(p, 50), Make(new SamplingParams { Temperature = 1.5f, Seed = 7 }, 50)];
            var results = new SampledToken[3];
            var tokens = new int[64];
            for (int step = 0; step < 64; step++)
            {
                float[] logits = [.. Row(step + 100), .. Row(step), .. Row(step + 200)];
                batch.Sample(samplers, logits, results);
                tokens[step] = results[1].TokenId;
            }
            return tokens;
        }

        int[] first = Alone();
        Assert.Equal(first, Alone());
        Assert.Equal(first, InABatch());
        Assert.True(first.Distinct().Count() > 5, "a temperature-0.8 draw over 50 tokens should vary");
        var other = Make(p with { Seed = 1235 }, 50);
        var scratch = new SamplerScratch();
        Assert.NotEqual(first, Enumerable.Range(0, 64).Select(step => other.Sample(Row(step), scratch).TokenId).ToArray());
    }

    [Fact]
    public void SiblingCompletionsOfASeededRequestDiffer()
    {
        var p = new SamplingParams { Temperature = 1f, Seed = 5 }.Validate();
        var a = new Sampler(p, [], 100, NoEos, completionIndex: 0);
        var b = new Sampler(p, [], 100, NoEos, completionIndex: 1);
        var scratch = new SamplerScratch();
        var ta = Enumerable.Range(0, 20).Select(_ => a.Sample(new float[100], scratch).TokenId).ToArray();
        var tb = Enumerable.Range(0, 20).Select(_ => b.Sample(new float[100], scratch).TokenId).ToArray();
        Assert.NotEqual(ta, tb);
    }

    [Theory]
    [InlineData(1.0f, 0, 1f, 0f, new[] { 0.5, 0.3, 0.2, 0.0 })]
    [InlineData(0.5f, 0, 1f, 0f, new[] { 0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38, 0.0 })]   // p^2, renormalised
    [InlineData(1.0f, 2, 1f, 0f, new[] { 0.625, 0.375, 0.0, 0.0 })]
    [InlineData(1.0f, 0, 0.7f, 0f, new[] { 0.625, 0.375, 0.0, 0.0 })]
    [InlineData(1.0f, 0, 1f, 0.5f, new[] { 0.625, 0.375, 0.0, 0.0 })]
    public void DrawFrequenciesMatchTheFilteredDistribution(float temperature, int topK, float topP, float minP, double[] expected)
    {
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.2f), float.NegativeInfinity];
        var sampler = Make(new SamplingParams { Temperature = temperature, TopK = topK, TopP = topP, MinP = minP, Seed = 42 }, 4);
        var scratch = new SamplerScratch();
        const int draws = 20_000;
        var counts = new int[4];
        var row = new float[4];
        for (int i = 0; i < draws; i++)
        {
            logits.CopyTo(row, 0);
            counts[sampler.Sample(row, scratch).TokenId]++;
        }
        for (int t = 0; t < 4; t++)
        {
            if (expected[t] == 0) Assert.Equal(0, counts[t]);
            else Assert.InRange(counts[t] / (double)draws, expected[t] - 0.02, expected[t] + 0.02); // > 5 standard deviations
        }
    }

    [Fact]
    public void LogprobsAreTheLogSoftmaxOfTheRawLogits()
    {
        var p = new SamplingParams { Temperature = 0.5f, RepetitionPenalty = 1.5f, Logprobs = 2, Seed = 3 };
        var sampler = Make(p, 4, prompt: [0]);
        float[] raw = [2f, 1f, 0.5f, -1f];
        double lse = Math.Log(raw.Sum(x => Math.Exp(x)));
        var result = sampler.Sample(raw.ToArray(), new SamplerScratch());
        var lp = Assert.IsType<TokenLogprob>(result.Logprobs);
        Assert.Equal(result.TokenId, lp.TokenId);
        Assert.Equal(raw[result.TokenId] - lse, lp.Logprob, 1e-5);
        Assert.Equal(2, lp.Top.Count);
        Assert.Equal(0, lp.Top[0].TokenId);
        Assert.Equal(2 - lse, lp.Top[0].Logprob, 1e-5);
        Assert.Equal(1, lp.Top[1].TokenId);
        Assert.Equal(1 - lse, lp.Top[1].Logprob, 1e-5);
    }

    [Fact]
    public void NoLogprobsUnlessAsked() =>
        Assert.Null(Make(new SamplingParams(), 3).Sample([1f, 2f, 3f], new SamplerScratch()).Logprobs);

    [Fact]
    public void ARowOfTheWrongLengthIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Make(new SamplingParams(), 3).Sample(new float[4], new SamplerScratch()));
        Assert.Contains("vocab size 3", ex.Message);
    }

    [Fact]
    public void SamplingAllocatesNothingPerTokenWithoutLogprobs()
    {
        var sampler = Make(new SamplingParams { Temperature = 0.7f, TopK = 40, TopP = 0.9f, FrequencyPenalty = 0.1f, Seed = 1 }, 1000);
        var scratch = new SamplerScratch();
        var row = new float[1000];
        void Step(int i) { for (int j = 0; j < row.Length; j++) row[j] = (j * 7 + i) % 13; sampler.Sample(row, scratch); }
        for (int i = 0; i < 200; i++) Step(i); // warm-up: scratch sized, penalty table filled (13 distinct tokens at most)
        // Tiered JIT may allocate once in a while; a per-token allocation would show in every window.
        long fewest = long.MaxValue;
        for (int window = 0; window < 10; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++) Step(i);
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
    }
}
