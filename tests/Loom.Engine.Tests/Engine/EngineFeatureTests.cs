using Loom.Engine.Output;
using Loom.Core.Requests;
using Loom.Core.Sampling;

namespace Loom.Engine.Tests.Engine;

/// <summary>Prefix caching, seeded sampling, n &gt; 1 block sharing, aborts, stop strings and intake errors, end to end.</summary>
public class EngineFeatureTests
{
    private const string ModelName = "llama-gqa";
    private static FixtureModel Model => FixtureModel.Get(ModelName);

    private static EngineOptions Options(bool prefixCaching = true, int blockSize = 16) =>
        new() { BlockSize = blockSize, MaxNumBatchedTokens = 256, EnablePrefixCaching = prefixCaching };

    [Theory]
    [InlineData(16)]
    [InlineData(1)]
    public void PromptExtendingACachedPrefixReportsCachedTokensAndSameOutput(int blockSize)
    {
        var greedy = new SamplingParams { Temperature = 0, MaxTokens = 8, IgnoreEos = true };
        var prefix = Model.Prompt(50, seed: 7);
        int[] extended = [.. prefix, .. Model.Prompt(9, seed: 8)];

        using var cached = Model.CreateEngine(Options(true, blockSize), numBlocks: 256 / blockSize * 4);
        cached.Add("first", prefix, greedy);
        cached.RunToCompletion();
        cached.Add("second", extended, greedy);
        cached.RunToCompletion();

        using var uncached = Model.CreateEngine(Options(false, blockSize), numBlocks: 256 / blockSize * 4);
        uncached.Add("second", extended, greedy);
        uncached.RunToCompletion();

        // The first request's prompt blocks (whole blocks of its 50 tokens, and with block size 1 also its first
        // outputs' KV, but only prompt-matching tokens count) are reused by the second.
        Assert.Equal(50 / blockSize * blockSize, cached.CachedPromptTokens["second"]);
        Assert.Equal(0, uncached.CachedPromptTokens["second"]);
        Assert.Equal(uncached.Tokens["second"], cached.Tokens["second"]);
        var stats = cached.Engine.GetStats();
        Assert.Equal(50 + 59, stats.PrefixCacheQueries);
        Assert.Equal(50 / blockSize * blockSize, stats.PrefixCacheHits);
    }

    [Fact]
    public void SeededSamplingIsReproducibleRegardlessOfBatch()
    {
        var seeded = new SamplingParams { Temperature = 0.9f, TopP = 0.95f, TopK = 50, Seed = 1234, MaxTokens = 10, IgnoreEos = true };
        var prompt = Model.Prompt(21, seed: 3);

        using var alone = Model.CreateEngine(Options(), numBlocks: 64);
        alone.Add("s", prompt, seeded);
        alone.RunToCompletion();

        using var crowded = Model.CreateEngine(Options() with { MaxNumBatchedTokens = 11 }, numBlocks: 64);
        for (int i = 0; i < 6; i++)
            crowded.Add($"other{i}", Model.Prompt(5 + 7 * i, seed: 50 + i), seeded with { Seed = null });
        crowded.Add("s", prompt, seeded);
        crowded.RunToCompletion();

        Assert.Equal(alone.Tokens["s"], crowded.Tokens["s"]);
        Assert.Equal(10, alone.Tokens["s"].Count);
    }

    [Fact]
    public void ParallelSamplesSharePromptBlocksAndUseSeedPlusIndex()
    {
        var parameters = new SamplingParams { N = 3, Temperature = 1.0f, Seed = 77, MaxTokens = 4, IgnoreEos = true };
        var prompt = Model.Prompt(40, seed: 11);
        using var engine = Model.CreateEngine(Options(prefixCaching: false), numBlocks: 32);
        engine.Add("n3", prompt, parameters);

        engine.Step(); // sample 0 prefills the 40-token prompt: 3 blocks of 16
        Assert.Equal(3, engine.Engine.GetStats().NumBlocksUsed);
        engine.Step(); // samples 1 and 2 share its 2 full blocks and recompute the 8-token tail in one block each
        Assert.Equal(3 + 1 + 1, engine.Engine.GetStats().NumBlocksUsed); // without sharing: 3 + 3 + 3
        engine.RunToCompletion();
        Assert.True(engine.Last["n3"].Finished);

        // Sample i draws exactly as a single request seeded with seed + i.
        for (int i = 0; i < 3; i++)
        {
            using var single = Model.CreateEngine(Options(prefixCaching: false), numBlocks: 32);
            single.Add("one", prompt, parameters with { N = 1, Seed = 77 + i });
            single.RunToCompletion();
            Assert.Equal(single.Tokens["one"], engine.Tokens[i == 0 ? "n3" : $"n3#{i}"]);
        }
    }

    [Fact]
    public void AbortFreesBlocksAtOnceAndReportsAbort()
    {
        using var engine = Model.CreateEngine(Options(prefixCaching: false), numBlocks: 32);
        engine.Add("a", Model.Prompt(30, seed: 5), new SamplingParams { Temperature = 0, MaxTokens = 50, IgnoreEos = true });
        engine.Step();
        Assert.True(engine.Engine.GetStats().NumBlocksUsed > 0);
        Assert.True(engine.Engine.Abort("a"));
        Assert.Equal(0, engine.Engine.GetStats().NumBlocksUsed);
        var outputs = engine.Step(); // the abort is reported; the idle self-check runs and passes
        Assert.Equal(FinishReason.Abort, Assert.Single(outputs).Deltas.Single().FinishReason);
        Assert.True(outputs[0].Finished);
        Assert.False(engine.Engine.HasWork);
    }

    [Fact]
    public void StopStringAcrossTokenBoundaryEndsGenerationWithoutTheStopText()
    {
        var greedy = new SamplingParams { Temperature = 0, MaxTokens = 16, IgnoreEos = true, SkipSpecialTokens = true };
        var prompt = Model.Tokenizer.Encode("The KV cache");
        using var free = Model.CreateEngine(Options(), numBlocks: 32);
        free.Add("x", prompt, greedy);
        free.RunToCompletion();
        var tokens = free.Tokens["x"];
        // A stop string made of the end of token 3's text and the start of token 4's.
        string before = Model.Tokenizer.Decode(tokens.Take(3).ToArray());
        string through = Model.Tokenizer.Decode(tokens.Take(5).ToArray());
        string upTo4 = Model.Tokenizer.Decode(tokens.Take(4).ToArray());
        Assert.True(upTo4.Length > before.Length + 0 && through.Length > upTo4.Length, "fixture text too short for this test");
        int start = Math.Max(0, before.Length - 1);
        string stop = through[start..Math.Min(through.Length, upTo4.Length + 1)];
        Assert.False(before[..start].Contains(stop), "stop string occurs earlier; choose another case");

        using var stopped = Model.CreateEngine(Options(), numBlocks: 32);
        stopped.Add("x", prompt, greedy with { Stop = [stop] });
        stopped.RunToCompletion();
        var last = stopped.Last["x"].Deltas[^1];
        Assert.Equal(FinishReason.Stop, last.FinishReason);
        Assert.Equal(StopReason.String(stop), last.StopReason);
        Assert.Equal(through[..through.IndexOf(stop, StringComparison.Ordinal)], stopped.Text["x"]);
    }

    [Fact]
    public void RequestsThatCanNeverFitAreRejectedWithTheField()
    {
        using var engine = Model.CreateEngine(Options(), numBlocks: 4, maxModelLen: 200);
        var tooLong = Assert.ThrowsAny<ArgumentException>(() =>
            engine.Add("a", Model.Prompt(190, seed: 1), new SamplingParams { MaxTokens = 20 }));
        Assert.Equal("max_tokens", tooLong.ParamName);
        var overCache = Assert.ThrowsAny<ArgumentException>(() =>
            engine.Add("b", Model.Prompt(60, seed: 1), new SamplingParams { MaxTokens = 10 })); // 70 tokens > 4 blocks of 16
        Assert.Contains("KV blocks", overCache.Message);
        var badToken = Assert.ThrowsAny<ArgumentException>(() => engine.Add("c", [5, 999_999], new SamplingParams()));
        Assert.Equal("prompt", badToken.ParamName);
        Assert.Equal("top_p", Assert.ThrowsAny<ArgumentException>(() => engine.Add("d", [5], new SamplingParams { TopP = 2 })).ParamName);
        Assert.False(engine.Engine.HasWork);
        Assert.Equal(0, engine.Engine.GetStats().NumWaiting);
    }
}
