using Loom.Core.Sampling;
using Loom.Engine.Loading;
using Loom.Engine.Speculative;
using Loom.Models;
using Loom.Tests;

namespace Loom.Engine.Tests.Loading;

/// <summary>
/// Loading method draft_model: the draft gets a KV cache of the target's block count and size, the byte budget pays for
/// both caches, quantization applies to the draft alone, the engine over the pair decodes as without speculation, and
/// a draft of another vocabulary or a missing path is refused at load with a clear message.
/// </summary>
public class DraftModelLoaderTests
{
    private static readonly EngineOptions Engine = new() { BlockSize = 16, KvCacheBytes = 4 << 20, IdleSelfCheck = true };

    private static EngineOptions WithDraft(string path, string? quantization = null) => Engine with
    {
        Speculative = new SpeculativeConfig { Method = SpeculativeConfig.DraftModelMethod, Model = path, NumSpeculativeTokens = 3, Quantization = quantization },
    };

    [Fact]
    public void A_q4_self_draft_shares_the_block_ids_and_halves_the_blocks()
    {
        string dir = RepoPaths.FixtureModel("llama-gqa");
        using var plain = ModelLoader.Load(dir, new LoaderOptions { Engine = Engine, NumThreads = 2 });
        var options = WithDraft(dir, "q4_0");
        using var model = ModelLoader.Load(dir, new LoaderOptions { Engine = options, NumThreads = 2 });
        var draft = model.Draft!;
        Assert.Equal(model.Executor.KvCache, draft.Executor.KvCache);
        Assert.Equal(plain.Executor.KvCache.NumBlocks / 2, model.Executor.KvCache.NumBlocks); // same config: twice the bytes per block

        var prompt = model.Tokenizer!.Encode("The KV cache holds the keys and values");
        var greedy = new SamplingParams { Temperature = 0, MaxTokens = 16, IgnoreEos = true };
        Assert.Equal(Generate(LlmEngine.Create(plain, Engine), prompt, greedy), Generate(LlmEngine.Create(model, options), prompt, greedy));
    }

    [Fact]
    public void A_draft_of_another_vocabulary_is_refused_at_load()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(RepoPaths.FixtureModel("llama3-ropescaled"),
            new LoaderOptions { Engine = WithDraft(RepoPaths.FixtureModel("llama-gqa")), NumThreads = 2 }));
        Assert.Contains("vocabulary of 2000 tokens", e.Message);
        Assert.Contains("3000", e.Message);
    }

    [Fact]
    public void A_missing_draft_is_refused_at_load()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(RepoPaths.FixtureModel("llama-gqa"),
            new LoaderOptions { Engine = WithDraft("/nonexistent/draft"), NumThreads = 2 }));
        Assert.Contains("Draft model not found", e.Message);
    }

    private static List<int> Generate(LlmEngine engine, int[] prompt, SamplingParams samplingParams)
    {
        engine.AddRequest(new EngineRequest("g", prompt, samplingParams));
        var tokens = new List<int>();
        while (engine.HasWork)
            foreach (var output in engine.Step())
                foreach (var delta in output.Deltas) tokens.AddRange(delta.NewTokenIds);
        return tokens;
    }
}
