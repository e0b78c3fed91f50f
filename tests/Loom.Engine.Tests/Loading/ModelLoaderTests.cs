using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.Engine.Loading;
using Loom.Models;
using Loom.Models.Config;
using Loom.Tests;

namespace Loom.Engine.Tests.Loading;

public sealed class ModelLoaderTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("loom-loader-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private static LoaderOptions Small(Action<string>? log = null) =>
        new() { Engine = new EngineOptions { KvCacheBytes = 1 << 20 }, NumThreads = 1, Log = log };

    [Fact]
    public void TheDemoModelLoadsWithTokenizerTemplateEosAndASizedCache()
    {
        var log = new List<string>();
        using var model = ModelLoader.Load(RepoPaths.DemoModel, Small(log.Add));
        Assert.Equal("demo", model.Name);
        Assert.Equal("LlamaForCausalLM", model.Config.Architecture);
        Assert.NotNull(model.Tokenizer);
        Assert.NotNull(model.ChatTemplate);
        Assert.Equal(0.8f, model.GenerationConfig.Temperature);
        Assert.Equal([0], model.EosTokenIds); // config, generation_config and "<|endoftext|>" all say 0
        Assert.Equal("cpu", model.BackendName);

        long perBlock = new CpuBackend().KvBytesPerBlock(model.Config, 16);
        int blocks = (int)((1 << 20) / perBlock);
        Assert.Equal(new KvCacheSpec(blocks, 16), model.Executor.KvCache);
        Assert.Equal(blocks * 16, model.MaxModelLen); // below max_position_embeddings 1024: lowered to what the cache holds
        Assert.Contains(log, line => line.Contains($"{blocks} blocks of 16 tokens = {blocks * 16} tokens"));
    }

    [Fact]
    public void ABf16KvCacheHoldsTwiceTheTokensInTheSameBytesAndGeneratesTheSameGreedyText()
    {
        var bf16Options = Small() with { Engine = new EngineOptions { KvCacheBytes = 1 << 20, KvCacheDType = KvCacheDType.BFloat16 } };
        using var fp32 = ModelLoader.Load(RepoPaths.DemoModel, Small());
        using var bf16 = ModelLoader.Load(RepoPaths.DemoModel, bf16Options);
        Assert.Equal(KvCacheDType.BFloat16, bf16.Executor.KvCache.DType);
        Assert.Equal(2 * fp32.Executor.KvCache.NumBlocks, bf16.Executor.KvCache.NumBlocks);

        int[] prompt = fp32.Tokenizer!.Encode("Once upon a time", addSpecialTokens: true);
        Assert.Equal(Greedy(fp32, prompt, 12), Greedy(bf16, prompt, 12)); // the demo model's margins are wide
    }

    /// <summary>Greedy tokens through the executor's cache, one decode step at a time.</summary>
    private static List<int> Greedy(LoadedModel model, int[] prompt, int count)
    {
        var logits = new float[model.Config.VocabSize];
        model.Executor.Forward(OneSequence(prompt)).CopyTo(logits);
        var tokens = new List<int>();
        for (int i = 0; i < count; i++)
        {
            int next = Array.IndexOf(logits, logits.Max());
            tokens.Add(next);
            int position = prompt.Length + i;
            var blockTable = Enumerable.Range(0, position / 16 + 1).ToArray();
            model.Executor.Forward(ForwardBatch.Of(
                tokenIds: [next],
                positions: [position],
                seqs: [new SequenceSlice(0, 1, position + 1, blockTable)],
                logitsIndices: [0])).CopyTo(logits);
        }
        return tokens;
    }

    [Fact]
    public void TheDemoModelRunsAForwardPass()
    {
        using var model = ModelLoader.Load(RepoPaths.DemoModel, Small());
        var logits = new float[model.Config.VocabSize];
        int[] prompt = model.Tokenizer!.Encode("The KV cache", addSpecialTokens: true);
        model.Executor.Forward(OneSequence(prompt)).CopyTo(logits);
        Assert.All(logits, x => Assert.True(float.IsFinite(x)));
        Assert.True(logits.Max() > logits.Min());
    }

    [Fact]
    public void DummyWeightsNeedOnlyAConfig()
    {
        File.Copy(Path.Combine(RepoPaths.DemoModel, "config.json"), Path.Combine(_temp, "config.json"));
        var options = Small() with { DummyWeights = true, RequireTokenizer = false, DummyWeightsSeed = 7 };
        using var model = ModelLoader.Load(_temp, options);
        Assert.Null(model.Tokenizer);
        Assert.Null(model.ChatTemplate);
        Assert.Equal([0], model.EosTokenIds);

        float[] First(LoadedModel m)
        {
            var logits = new float[m.Config.VocabSize];
            m.Executor.Forward(OneSequence([5, 6, 7])).CopyTo(logits);
            return logits;
        }
        var dummy = First(model);
        Assert.All(dummy, x => Assert.True(float.IsFinite(x)));
        using (var again = ModelLoader.Load(_temp, options)) Assert.Equal(dummy, First(again)); // seeded
        using var real = ModelLoader.Load(RepoPaths.DemoModel, Small());
        Assert.NotEqual(dummy, First(real));
    }

    [Fact]
    public void AMissingTokenizerIsAClearErrorWhenOneIsRequired()
    {
        File.Copy(Path.Combine(RepoPaths.DemoModel, "config.json"), Path.Combine(_temp, "config.json"));
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(_temp, Small() with { DummyWeights = true }));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains(_temp, e.Message);
    }

    [Fact]
    public void AMissingDirectoryIsNamed()
    {
        string missing = Path.Combine(_temp, "nope");
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(missing, Small()));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void MissingWeightsAreNamed()
    {
        foreach (var f in new[] { "config.json", "tokenizer.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(RepoPaths.DemoModel, f), Path.Combine(_temp, f));
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(_temp, Small()));
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void AnUnsupportedArchitectureIsNamed()
    {
        File.WriteAllText(Path.Combine(_temp, "config.json"), """{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 10}""");
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(_temp, Small()));
        Assert.Contains("GPT2LMHeadModel", e.Message);
    }

    [Fact]
    public void BadOptionsAreNamed()
    {
        Assert.Contains("backend", Assert.Throws<ModelLoadException>(
            () => ModelLoader.Load(RepoPaths.DemoModel, Small() with { Backend = "tpu" })).Message);
        Assert.Contains("max_model_len 5000", Assert.Throws<ModelLoadException>(
            () => ModelLoader.Load(RepoPaths.DemoModel, Small() with { Engine = new EngineOptions { MaxModelLen = 5000 } })).Message);
        Assert.Contains("--kv-cache-memory", Assert.Throws<ModelLoadException>(
            () => ModelLoader.Load(RepoPaths.DemoModel, Small() with { Engine = new EngineOptions { KvCacheBytes = 100 } })).Message);
    }

    [Fact]
    public void KvCacheTokensSizeTheCacheForOneRequest()
    {
        using var model = ModelLoader.Load(RepoPaths.DemoModel, Small() with { KvCacheTokens = 100 });
        Assert.Equal(7, model.Executor.KvCache.NumBlocks); // ceil(100 / 16)
        Assert.Equal(112, model.MaxModelLen);
    }

    [Fact]
    public void EosIdsAreTheUnionOfConfigGenerationConfigAndTokenizer()
    {
        var config = ModelConfigLoader.Load(RepoPaths.FixtureModel("llama-gqa")) with { EosTokenIds = [2, 9] };
        var generation = new GenerationConfig { EosTokenIds = [9, 4] };
        Assert.Equal([2, 9, 4], ModelLoader.EosTokenIds(config, generation, tokenizer: null));
    }

    private static ForwardBatch OneSequence(int[] tokens) => ForwardBatch.Of(
        tokenIds: tokens,
        positions: [.. Enumerable.Range(0, tokens.Length)],
        seqs: [new SequenceSlice(0, tokens.Length, tokens.Length, [0, 1, 2, 3])],
        logitsIndices: [tokens.Length - 1]);
}
