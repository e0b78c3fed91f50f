using System.Runtime.InteropServices;
using Loom.Core.Sampling;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Engine.Tests.Engine;

/// <summary>
/// prompt_logprobs: the log-probability of every prompt token given the tokens before it, checked against the
/// Hugging Face float64 logits of the fixture (golden.safetensors), whole and in prefill chunks.
/// </summary>
public class PromptLogprobsTests
{
    private const string ModelName = "mistral-slidingwindow"; // float32 weights: logits match golden to ~1e-5
    private static FixtureModel Model => FixtureModel.Get(ModelName);

    [Theory]
    [InlineData(256, 16)] // the whole 29-token prompt in one step
    [InlineData(5, 16)]   // chunks of 5: rows of one prompt spread over six steps
    [InlineData(7, 1)]
    public void PromptLogprobsEqualLogSoftmaxOfGoldenLogits(int tokenBudget, int blockSize)
    {
        var (prompt, golden) = GoldenCase(2);
        using var engine = Model.CreateEngine(
            new EngineOptions { BlockSize = blockSize, MaxNumBatchedTokens = tokenBudget, EnablePrefixCaching = true }, numBlocks: 128);
        engine.Add("p", prompt, new SamplingParams { Temperature = 0, MaxTokens = 2, IgnoreEos = true, PromptLogprobs = 3 });
        var scored = RunCollectingPromptLogprobs(engine, "p");

        Assert.Equal(prompt.Length, scored.Count);
        Assert.Null(scored[0]);
        int vocab = Model.Config.VocabSize;
        for (int p = 1; p < prompt.Length; p++)
        {
            var row = golden.AsSpan((p - 1) * vocab, vocab);
            var lp = scored[p]!;
            Assert.Equal(prompt[p], lp.TokenId);
            Assert.Equal(LogSoftmax(row, prompt[p]), lp.Logprob, 1e-3);
            Assert.Equal(3, lp.Top.Count);
            Assert.Equal(TopId(row), lp.Top[0].TokenId);
            Assert.Equal(LogSoftmax(row, TopId(row)), lp.Top[0].Logprob, 1e-3);
        }
    }

    [Fact]
    public void PromptLogprobsBypassThePrefixCacheAndComeOnceForNSamples()
    {
        var (prompt, _) = GoldenCase(2);
        using var engine = Model.CreateEngine(new EngineOptions { BlockSize = 4, MaxNumBatchedTokens = 256 }, numBlocks: 128);
        var plain = new SamplingParams { Temperature = 0, MaxTokens = 2, IgnoreEos = true };
        engine.Add("warm", prompt, plain);
        engine.RunToCompletion();

        engine.Add("scored", prompt, plain with { N = 2, PromptLogprobs = 0 });
        var outputs = new List<RequestOutput>();
        while (engine.Engine.HasWork) outputs.AddRange(engine.Step().Where(o => o.RequestId == "scored"));

        var withLogprobs = outputs.Where(o => o.PromptLogprobs is not null).ToList();
        var single = Assert.Single(withLogprobs);
        Assert.Same(outputs[0], single);
        Assert.Equal(prompt.Length, single.PromptLogprobs!.Count);
        Assert.All(single.PromptLogprobs.Skip(1), lp => Assert.Empty(lp!.Top));
        Assert.Equal(0, engine.CachedPromptTokens["scored"]); // a cache hit would have skipped rows it must score
        Assert.Equal(engine.Tokens["warm"], engine.Tokens["scored"]);
    }

    [Fact]
    public void RequestsWithoutPromptLogprobsCarryNone()
    {
        using var engine = Model.CreateEngine(new EngineOptions { BlockSize = 16, MaxNumBatchedTokens = 256 }, numBlocks: 32);
        engine.Add("a", Model.Prompt(20, seed: 1), new SamplingParams { MaxTokens = 3, IgnoreEos = true, Logprobs = 2 });
        var outputs = new List<RequestOutput>();
        while (engine.Engine.HasWork) outputs.AddRange(engine.Step());
        Assert.All(outputs, o => Assert.Null(o.PromptLogprobs));
        Assert.Equal(3, outputs.SelectMany(o => o.Deltas).Count(d => d.NewLogprobs is { Count: 1 }));
    }

    private static List<TokenLogprob?> RunCollectingPromptLogprobs(TestEngine engine, string id)
    {
        IReadOnlyList<TokenLogprob?>? found = null;
        while (engine.Engine.HasWork)
            foreach (var output in engine.Step())
                if (output.RequestId == id && output.PromptLogprobs is { } lp)
                {
                    Assert.Null(found); // exactly once
                    found = lp;
                }
        return [.. Assert.IsAssignableFrom<IReadOnlyList<TokenLogprob?>>(found)];
    }

    private static (int[] Prompt, float[] Logits) GoldenCase(int index)
    {
        using var golden = SafetensorsWeightSource.OpenFile(Path.Combine(RepoPaths.FixtureModel(ModelName), "golden.safetensors"));
        var ids = MemoryMarshal.Cast<byte, long>(golden.Get($"case{index}.input_ids").Bytes);
        int[] prompt = [.. ids.ToArray().Select(i => checked((int)i))];
        float[] logits = MemoryMarshal.Cast<byte, float>(golden.Get($"case{index}.logits").Bytes).ToArray();
        Assert.Equal(prompt.Length * Model.Config.VocabSize, logits.Length); // every row present
        return (prompt, logits);
    }

    private static double LogSoftmax(ReadOnlySpan<float> row, int token)
    {
        double max = double.NegativeInfinity;
        foreach (var v in row) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in row) sum += Math.Exp(v - max);
        return row[token] - max - Math.Log(sum);
    }

    private static int TopId(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }
}
