using Loom.Core.Sampling;
using Loom.Engine.Speculative;
using Loom.Engine.Tests.Engine;

namespace Loom.Engine.Tests.Speculative;

/// <summary>
/// Method draft_model through the whole engine: greedy output with a draft model is token for token the output
/// without speculation, for a Q4_0 copy of the model (the self-draft), the model itself and an unrelated model of the
/// same vocabulary (exactness does not depend on the draft), on every fixture model and the demo model, alone and 16
/// at once under chunked prefill, prefix caching and preemption; a self-draft is accepted almost always; seeded
/// sampling is reproducible; aborts mid-verification leave no block held.
/// </summary>
public class DraftModelGreedyTests
{
    private static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = 24, IgnoreEos = true };
    internal static readonly SpeculativeConfig DraftModel = new() { Method = SpeculativeConfig.DraftModelMethod, Model = "draft", NumSpeculativeTokens = 3 };

    public static TheoryData<string> Models => new() { "llama-gqa", "llama3-ropescaled", "mistral-slidingwindow", "phi3-fused", "qwen2-bias-tied", "qwen3-qknorm", FixtureModel.Demo };

    [Theory]
    [MemberData(nameof(Models))]
    public void One_request_with_a_q4_self_draft_equals_plain_decoding(string name)
    {
        var model = FixtureModel.Get(name);
        var prompt = model.Prompt(11, seed: 3);
        using var plain = Run(model, [prompt], new EngineOptions { BlockSize = 4 }, 64, null);
        using var spec = Run(model, [prompt], new EngineOptions { BlockSize = 4, Speculative = DraftModel }, 64, model.Q4Draft);
        Assert.Equal(plain.Tokens["r0"], spec.Tokens["r0"]);
        var stats = spec.Engine.GetStats().SpecDecoding!;
        Assert.True(stats.NumDraftTokens > 0 && stats.NumAcceptedTokens > 0, $"{stats.NumAcceptedTokens} of {stats.NumDraftTokens} drafts accepted");
    }

    public static TheoryData<string, int, bool, int, string> Configurations => new()
    {
        // model, budget, prefix caching, blocks (of 4 tokens), draft
        { "llama-gqa", 512, true, 512, "q4" },
        { "llama-gqa", 7, false, 512, "q4" },     // prompts split, drafts trimmed by the budget
        { "llama-gqa", 64, true, 30, "q4" },      // preemption
        { "llama-gqa", 64, true, 512, "other" },  // a poor draft: mostly rejected, still exact
        { "qwen3-qknorm", 16, true, 512, "self" },
        { FixtureModel.Demo, 32, true, 24, "q4" }, // the demo model (8 requests): chunks, trimmed drafts and preemption at once
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Sixteen_concurrent_requests_equal_plain_decoding(string name, int budget, bool prefixCaching, int numBlocks, string draftName)
    {
        var model = FixtureModel.Get(name);
        var prompts = SpeculativeGreedyTests.Prompts(model, name == FixtureModel.Demo ? 8 : 16); // the demo model is 10x slower
        var options = new EngineOptions { BlockSize = 4, MaxNumBatchedTokens = budget, EnablePrefixCaching = prefixCaching, MaxNumSeqs = 16 };
        using var plain = Run(model, prompts, options, numBlocks, null);
        using var spec = Run(model, prompts, options with { Speculative = DraftModel }, numBlocks, Draft(model, draftName));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(plain.Tokens[$"r{i}"], spec.Tokens[$"r{i}"]);
        var stats = spec.Engine.GetStats();
        Assert.True(stats.SpecDecoding!.NumDraftTokens > 0);
        Assert.True(numBlocks > 100 || stats.NumPreemptions > 0, "the small cache should preempt");
        Assert.Equal(0, stats.NumBlocksUsed);
    }

    [Fact]
    public void Preemption_happens_in_the_tiny_cache_configuration()
    {
        var model = FixtureModel.Get("llama-gqa");
        var options = new EngineOptions { BlockSize = 4, MaxNumBatchedTokens = 64, MaxNumSeqs = 16, Speculative = DraftModel };
        using var spec = Run(model, SpeculativeGreedyTests.Prompts(model, 16), options, 30, model.Q4Draft);
        Assert.True(spec.Engine.GetStats().NumPreemptions > 0);
    }

    /// <summary>The model as its own draft computes what the target computes: every draft but rare ties stands.</summary>
    [Theory]
    [InlineData("llama-gqa")]
    [InlineData(FixtureModel.Demo)]
    public void A_self_draft_is_accepted_almost_always(string name)
    {
        var model = FixtureModel.Get(name);
        var options = new EngineOptions { BlockSize = 4, MaxNumSeqs = 16, Speculative = DraftModel };
        using var spec = Run(model, SpeculativeGreedyTests.Prompts(model, 4), options, 512, model.SelfDraft);
        var stats = spec.Engine.GetStats().SpecDecoding!;
        Assert.True(stats.NumAcceptedTokens >= 0.95 * stats.NumDraftTokens, $"{stats.NumAcceptedTokens} of {stats.NumDraftTokens} drafts accepted");
    }

    /// <summary>
    /// disable_by_batch_size 4 over 12 requests of different lengths: the draft model runs no forward while 4 or more
    /// are scheduled, then each request catches up on everything it missed (prompt and outputs, in chunks the draft's
    /// batch holds) before drafting. Greedy output equals plain decoding, and a self-draft is still accepted almost
    /// always afterwards: the caught-up KV is the draft's own, not stale.
    /// </summary>
    [Theory]
    [InlineData(512)]
    [InlineData(16)] // a small budget: the draft's batch cannot hold a whole catch-up at once
    public void A_draft_idled_by_batch_size_catches_up_and_stays_exact(int budget)
    {
        var model = FixtureModel.Get("llama-gqa");
        var prompts = SpeculativeGreedyTests.Prompts(model, 12);
        var options = new EngineOptions { BlockSize = 4, MaxNumSeqs = 16, MaxNumBatchedTokens = budget };
        var speculative = DraftModel with { DisableByBatchSize = 4 };
        using var plain = model.CreateEngine(options, 512, maxModelLen: 256);
        using var spec = model.CreateEngine(options with { Speculative = speculative }, 512, maxModelLen: 256, draft: model.SelfDraft);
        foreach (var engine in new[] { plain, spec })
        {
            for (int i = 0; i < prompts.Length; i++) engine.Add($"r{i}", prompts[i], Greedy with { MaxTokens = 6 + 4 * i });
            engine.RunToCompletion();
        }
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(plain.Tokens[$"r{i}"], spec.Tokens[$"r{i}"]);
        var stats = spec.Engine.GetStats().SpecDecoding!;
        Assert.True(stats.NumDraftTokens >= 10 && stats.NumAcceptedTokens >= 0.95 * stats.NumDraftTokens, $"{stats.NumAcceptedTokens} of {stats.NumDraftTokens} drafts accepted");
    }

    [Fact]
    public void Seeded_sampling_with_a_draft_model_is_reproducible()
    {
        var model = FixtureModel.Get("llama-gqa");
        var prompts = SpeculativeGreedyTests.Prompts(model, 6);
        var seeded = new SamplingParams { Temperature = 0.8f, TopP = 0.95f, TopK = 40, Seed = 11, MaxTokens = 24, IgnoreEos = true, FrequencyPenalty = 0.2f };
        var options = new EngineOptions { BlockSize = 4, MaxNumSeqs = 16, MaxNumBatchedTokens = 64, Speculative = DraftModel };
        using var first = Run(model, prompts, options, 512, model.Q4Draft, seeded);
        using var second = Run(model, prompts, options, 512, model.Q4Draft, seeded);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(first.Tokens[$"r{i}"], second.Tokens[$"r{i}"]);
        Assert.True(first.Engine.GetStats().SpecDecoding!.NumAcceptedTokens > 0);
    }

    [Fact]
    public void Aborts_between_verification_steps_free_every_block()
    {
        var model = FixtureModel.Get("llama-gqa");
        var prompts = SpeculativeGreedyTests.Prompts(model, 6);
        var options = new EngineOptions { BlockSize = 4, MaxNumSeqs = 16, MaxNumBatchedTokens = 64, Speculative = DraftModel };
        using var engine = model.CreateEngine(options, 512, maxModelLen: 256, draft: model.Q4Draft);
        for (int i = 0; i < prompts.Length; i++) engine.Add($"r{i}", prompts[i], Greedy with { MaxTokens = 40 });
        for (int step = 0; engine.Engine.HasWork; step++)
        {
            engine.Step();
            if (step >= 3 && step % 2 == 1) engine.Engine.Abort($"r{step / 2 % prompts.Length}");
        }
        Assert.Equal(0, engine.Engine.GetStats().NumBlocksUsed); // and the idle self-check passed on the way out
    }

    [Fact]
    public void A_draft_of_another_vocabulary_or_cache_shape_is_refused()
    {
        var target = FixtureModel.Get("llama-gqa");
        var other = FixtureModel.Get("qwen3-qknorm"); // 3000 tokens against 2000
        var options = new EngineOptions { BlockSize = 4, Speculative = DraftModel };
        var e = Assert.Throws<ArgumentException>(() => target.CreateEngine(options, 64, draft: new DraftWeights(other.Config, other.Weights)));
        Assert.Equal(("model", true), (e.ParamName, e.Message.Contains("vocabulary")));
        var missing = Assert.Throws<ArgumentException>(() => target.CreateEngine(options, 64));
        Assert.Equal("model", missing.ParamName);
    }

    private static DraftWeights Draft(FixtureModel model, string name) => name switch
    {
        "q4" => model.Q4Draft,
        "self" => model.SelfDraft,
        _ => new DraftWeights(FixtureModel.Get("mistral-slidingwindow").Config, FixtureModel.Get("mistral-slidingwindow").Weights),
    };

    private static TestEngine Run(FixtureModel model, int[][] prompts, EngineOptions options, int numBlocks, DraftWeights? draft,
        SamplingParams? samplingParams = null)
    {
        var engine = model.CreateEngine(options, numBlocks, maxModelLen: 256, draft: draft);
        for (int i = 0; i < prompts.Length; i++) engine.Add($"r{i}", prompts[i], samplingParams ?? Greedy);
        engine.RunToCompletion();
        return engine;
    }
}
