using Loom.Core.Sampling;
using Loom.Engine.Speculative;
using Loom.Engine.Tests.Engine;

namespace Loom.Engine.Tests.Speculative;

/// <summary>
/// Issue 14's central proof: greedy decoding with n-gram speculation emits token for token what it emits without, on
/// every fixture model and the demo model, for one request and for 16 at once, under chunked prefill (budgets that
/// split prompts and trim drafts), prefix caching and a cache so small that requests are preempted.
/// </summary>
public class SpeculativeGreedyTests
{
    private const int MaxTokens = 24;
    private static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = MaxTokens, IgnoreEos = true };
    internal static readonly SpeculativeConfig Ngram = new() { NumSpeculativeTokens = 4, PromptLookupMin = 1, PromptLookupMax = 3 };

    public static TheoryData<string> Models => new() { "llama-gqa", "llama3-ropescaled", "mistral-slidingwindow", "phi3-fused", "qwen2-bias-tied", "qwen3-qknorm", FixtureModel.Demo };

    /// <summary>Prompts of 2..70 tokens; most repeat a span (so lookup drafts), some share a prefix (so the cache hits).</summary>
    internal static int[][] Prompts(FixtureModel model, int count)
    {
        var shared = model.Prompt(32, seed: 500);
        return [.. Enumerable.Range(0, count).Select(i =>
        {
            var span = model.Prompt(3 + i % 7, seed: i);
            int[] repeated = [.. Enumerable.Repeat(span, 2 + i % 4).SelectMany(x => x)];
            return i % 4 == 3 ? model.Prompt(2 + i, seed: 100 + i) : i % 3 == 0 ? [.. shared, .. repeated] : repeated;
        })];
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void One_request_equals_plain_decoding(string name)
    {
        var model = FixtureModel.Get(name);
        var prompt = Prompts(model, 1)[0];
        using var plain = Run(model, [prompt], new EngineOptions { BlockSize = 4 }, 64);
        using var spec = Run(model, [prompt], new EngineOptions { BlockSize = 4, Speculative = Ngram }, 64);
        Assert.Equal(plain.Tokens["r0"], spec.Tokens["r0"]);
        Assert.True(spec.Engine.GetStats().SpecDecoding!.NumDraftTokens > 0, "the repeating prompt should have been drafted from");
    }

    public static TheoryData<string, int, bool, int> Configurations => new()
    {
        // model, budget, prefix caching, blocks (of 4 tokens)
        { "llama-gqa", 512, true, 512 },
        { "llama-gqa", 7, false, 512 },     // prompts split, drafts trimmed by the budget
        { "llama-gqa", 64, true, 30 },      // preemption
        { "qwen3-qknorm", 16, true, 512 },
        { FixtureModel.Demo, 32, true, 40 },  // the demo model: chunks, trimmed drafts and preemption at once
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Sixteen_concurrent_requests_equal_plain_decoding(string name, int budget, bool prefixCaching, int numBlocks)
    {
        var model = FixtureModel.Get(name);
        var prompts = Prompts(model, 16);
        var options = new EngineOptions { BlockSize = 4, MaxNumBatchedTokens = budget, EnablePrefixCaching = prefixCaching, MaxNumSeqs = 16 };
        using var plain = Run(model, prompts, options, numBlocks);
        using var spec = Run(model, prompts, options with { Speculative = Ngram }, numBlocks);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(plain.Tokens[$"r{i}"], spec.Tokens[$"r{i}"]);
        var stats = spec.Engine.GetStats().SpecDecoding!;
        Assert.True(stats.NumAcceptedTokens > 0 && stats.NumAcceptedTokens < stats.NumDraftTokens,
            $"expected some drafts accepted and some rejected, got {stats.NumAcceptedTokens} of {stats.NumDraftTokens}");
    }

    [Fact]
    public void Preemption_happens_in_the_tiny_cache_configuration()
    {
        var model = FixtureModel.Get("llama-gqa");
        var options = new EngineOptions { BlockSize = 4, MaxNumBatchedTokens = 64, MaxNumSeqs = 16, Speculative = Ngram };
        using var spec = Run(model, Prompts(model, 16), options, 30);
        Assert.True(spec.Engine.GetStats().NumPreemptions > 0);
    }

    internal static TestEngine Run(FixtureModel model, int[][] prompts, EngineOptions options, int numBlocks, SamplingParams? samplingParams = null)
    {
        var engine = model.CreateEngine(options, numBlocks, maxModelLen: 256);
        for (int i = 0; i < prompts.Length; i++) engine.Add($"r{i}", prompts[i], samplingParams ?? Greedy);
        engine.RunToCompletion();
        return engine;
    }
}
