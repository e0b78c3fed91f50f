using Loom.Core.Sampling;
using Loom.Engine.Sampling;

namespace Loom.Engine.Tests.Sampling;

/// <summary>
/// Scoring is pure and committing is what advances a sequence: what speculative decoding needs to weigh a draft token
/// without taking it.
/// </summary>
public class ScoreCommitTests
{
    private static readonly SamplingParams Seeded = new() { Temperature = 0.9f, TopK = 8, Seed = 42, FrequencyPenalty = 0.5f, MinTokens = 2, MaxTokens = 50 };

    private static float[] Row(int step) => [.. Enumerable.Range(0, 32).Select(j => (float)((j * 7 + step * 3) % 11) / 3)];

    [Fact]
    public void ScoringTwiceGivesTheSameTokenAndChangesNothing()
    {
        var sampler = new Sampler(Seeded.Validate(), [1, 2], 32, [5]);
        var scratch = new SamplerScratch();
        var first = sampler.Score(Row(0), scratch);
        var second = sampler.Score(Row(0), scratch);
        Assert.Equal(first.TokenId, second.TokenId);
        Assert.Equal(0, sampler.NumOutputTokens);
    }

    [Fact]
    public void ScoreThenCommitDrawsTheSameStreamAsSample()
    {
        var a = new Sampler(Seeded.Validate(), [1, 2], 32, [5]);
        var b = new Sampler(Seeded.Validate(), [1, 2], 32, [5]);
        var scratch = new SamplerScratch();
        for (int step = 0; step < 40; step++)
        {
            int sampled = a.Sample(Row(step), scratch).TokenId;
            int scored = b.Score(Row(step), scratch).TokenId;
            Assert.Equal(b.Score(Row(step), scratch).TokenId, scored); // scoring again before the commit changes nothing
            b.Commit(scored);
            Assert.Equal(sampled, scored);
        }
    }

    [Fact]
    public void CommittingATokenOtherThanTheScoredOneAdvancesTheProcessorsByIt()
    {
        var p = new SamplingParams { Temperature = 0, FrequencyPenalty = 1f, MinTokens = 1 }.Validate();
        var sampler = new Sampler(p, [], 4, [3]);
        var scratch = new SamplerScratch();
        float[] row = [0f, 2f, 1f, 9f];
        Assert.Equal(1, sampler.Score(row, scratch).TokenId); // EOS 3 masked before min_tokens
        sampler.Commit(2);                                    // a draft token taken instead
        float[] next = [0f, 2f, 1f, 0f];
        sampler.Score(next, scratch);
        Assert.Equal([0f, 2f, 0f, 0f], next);                 // token 2 penalised; EOS no longer masked
        Assert.Equal(1, sampler.NumOutputTokens);
    }
}
