using Loom.Core.Sampling;
using Loom.Engine.Sampling;

namespace Loom.Engine.Tests.Sampling;

/// <summary>No logits row, however hostile the request or broken the model, makes sampling throw.</summary>
public class SamplerRobustnessTests
{
    private static Sampler Make(SamplingParams p, int vocab, int[]? prompt = null, int[]? eos = null) =>
        new(p.Validate(), prompt ?? [], vocab, eos ?? []);

    [Theory]
    [InlineData(1f, 1f)]
    [InlineData(0.7f, 0.9f)] // through TokenFilter
    [InlineData(0f, 1f)]
    public void MinTokensMaskingTheWholeVocabularyTakesTheRequestsStopToken(float temperature, float topP)
    {
        // stop_token_ids lists every id and min_tokens >= 1: nothing is left; used to throw "no finite maximum".
        var p = new SamplingParams { Temperature = temperature, TopP = topP, MinTokens = 2, StopTokenIds = [0, 1, 2, 3] };
        var sampler = Make(p, 4, eos: [2]);
        var sampled = sampler.Sample([1f, 2f, 3f, 4f], new SamplerScratch());
        Assert.Null(sampled.Fault);
        Assert.Equal(2, sampled.TokenId); // EOS first
    }

    [Theory]
    [InlineData(1f, 1f)]
    [InlineData(0.5f, 0.9f)]
    [InlineData(1f, 1f, 5)]
    public void RepetitionPenaltyOverflowIsClampedNotThrown(float temperature, float topP, int topK = 0)
    {
        // repetition_penalty 1e-38 divides positive logits of seen tokens to +inf; exp(inf - inf) was NaN.
        var p = new SamplingParams { Temperature = temperature, TopP = topP, TopK = topK, RepetitionPenalty = 1e-38f, Seed = 3 };
        var sampler = Make(p, 6, prompt: [1, 4]);
        var scratch = new SamplerScratch();
        for (int i = 0; i < 5; i++)
        {
            var sampled = sampler.Sample([0.5f, 2f, -1f, 0.25f, 3f, 1f], scratch);
            Assert.Null(sampled.Fault);
            Assert.InRange(sampled.TokenId, 0, 5);
        }
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(1f)]
    public void NaNLogitsFailTheRowInsteadOfThrowing(float temperature)
    {
        var sampler = Make(new SamplingParams { Temperature = temperature, TopP = 0.9f }, 4);
        var whole = sampler.Sample([float.NaN, float.NaN, float.NaN, float.NaN], new SamplerScratch());
        Assert.NotNull(whole.Fault);
        var partial = sampler.Sample([1f, float.NaN, 0f, 2f], new SamplerScratch());
        Assert.NotNull(partial.Fault);
        Assert.Equal(0, sampler.NumOutputTokens); // a failed row records nothing
    }

    [Fact]
    public void AllNegativeInfinityFromTheModelFailsTheRow()
    {
        var sampler = Make(new SamplingParams { Temperature = 1f }, 3);
        Assert.NotNull(sampler.Sample([float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity], new SamplerScratch()).Fault);
    }

    [Fact]
    public void LogitBiasIsAddedAfterPenalties()
    {
        var p = new SamplingParams
        {
            Temperature = 0, RepetitionPenalty = 2f,
            LogitBias = new Dictionary<int, float> { [0] = 100f, [3] = -100f },
        };
        var sampler = Make(p, 4, prompt: [0]);
        float[] row = [4f, 50f, 1f, 99f];
        Assert.Equal(0, sampler.Sample(row, new SamplerScratch()).TokenId);
        Assert.Equal([4f / 2 + 100f, 50f, 1f, 99f - 100f], row); // penalty first (4 / 2), then the bias
    }

    [Fact]
    public void ARowWhoseSamplingFailsLeavesTheOtherRowsSampled()
    {
        var batch = new BatchSampler();
        Sampler[] samplers = [Make(new SamplingParams { Temperature = 0 }, 3), Make(new SamplingParams { Temperature = 0 }, 3)];
        var results = new SampledToken[2];
        batch.Sample(samplers, [0f, 5f, 1f, 7f, 0f, 1f], results, (row, _) =>
        {
            if (row == 0) throw new InvalidOperationException("injected");
        });
        Assert.IsType<InvalidOperationException>(results[0].Fault);
        Assert.Equal(new SampledToken(0, null), results[1]);
    }
}
