using Loom.ChatTemplates;
using Loom.Core.Sampling;
using Loom.Engine.Loading;
using Loom.Models;
using Loom.Models.Config;
using Loom.Models.Gguf;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Engine.Tests.Loading;

/// <summary>A .gguf file (or a folder holding one) loads as a model: config, weights, tokenizer, chat template, EOS.</summary>
public sealed class GgufModelLoaderTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("loom-gguf-loader-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private static readonly EngineOptions Engine = new() { KvCacheBytes = 1 << 20 };

    private static LoaderOptions Small() => new() { Engine = Engine, NumThreads = 1 };

    public static TheoryData<string> Models => new()
    {
        "llama-gqa", "llama3-ropescaled", "mistral-slidingwindow", "phi3-fused", "qwen2-bias-tied", "qwen3-qknorm", "demo",
    };

    private static string ModelDir(string name) => name == "demo" ? RepoPaths.DemoModel : RepoPaths.FixtureModel(name);

    /// <summary>Exports a safetensors checkpoint with its tokenizer to GGUF, the way `loom convert` does.</summary>
    private static string Export(string modelDir, string path, bool withTokenizer = true)
    {
        var config = ModelConfigLoader.Load(modelDir);
        using var weights = SafetensorsWeightSource.Open(modelDir);
        GgufExporter.Export(weights, config, path, GgmlType.F32, withTokenizer ? GgufTokenizerWriter.FromModelDirectory(modelDir) : null);
        return path;
    }

    private static int[] Greedy(LoadedModel model, int[] prompt, int maxTokens)
    {
        var engine = LlmEngine.Create(model, Engine);
        engine.AddRequest(new EngineRequest("greedy", prompt, new SamplingParams { Temperature = 0, MaxTokens = maxTokens, IgnoreEos = true }));
        var tokens = new List<int>();
        while (engine.HasWork)
            foreach (var output in engine.Step())
                foreach (var delta in output.Deltas) tokens.AddRange(delta.NewTokenIds);
        return [.. tokens];
    }

    [Theory, MemberData(nameof(Models))]
    public void GreedyTokensFromTheGgufEqualTheSafetensorsPath(string name)
    {
        string dir = ModelDir(name);
        string gguf = Export(dir, Path.Combine(_temp, name + ".gguf"));
        using var fromSafetensors = ModelLoader.Load(dir, Small());
        using var fromGguf = ModelLoader.Load(gguf, Small());

        Assert.Equal(name, fromGguf.Name);
        // GGUF's BOS id comes from the tokenizer metadata, which config.json often leaves out; EOS ids are compared below.
        Assert.Equal(fromSafetensors.Config with { EosTokenIds = [], BosTokenId = null }, fromGguf.Config with { EosTokenIds = [], BosTokenId = null });
        const string text = "The paged KV cache keeps 16 tokens per block; prefix caching reuses them.";
        int[] prompt = fromSafetensors.Tokenizer!.Encode(text, addSpecialTokens: true);
        Assert.Equal(prompt, fromGguf.Tokenizer!.Encode(text, addSpecialTokens: true));
        Assert.Equal(Greedy(fromSafetensors, prompt, 16), Greedy(fromGguf, prompt, 16));

        Assert.Contains(fromGguf.Tokenizer.EosTokenId!.Value, fromGguf.EosTokenIds);
        Assert.Subset(fromGguf.EosTokenIds.ToHashSet(), fromSafetensors.EosTokenIds.ToHashSet());
        var chat = new ChatTemplateInput([new ChatMessage("user", "Hello!")])
        {
            AddGenerationPrompt = true, BosToken = fromGguf.Tokenizer.BosToken, EosToken = fromGguf.Tokenizer.EosToken,
        };
        Assert.Equal(fromSafetensors.ChatTemplate!.Render(chat), fromGguf.ChatTemplate!.Render(chat));
    }

    [Fact]
    public void AFolderHoldingOneGgufAndNoSafetensorsLoadsIt()
    {
        string folder = Directory.CreateDirectory(Path.Combine(_temp, "folder")).FullName;
        Export(RepoPaths.DemoModel, Path.Combine(folder, "demo-f32.gguf"));
        File.Copy(Path.Combine(RepoPaths.DemoModel, "config.json"), Path.Combine(folder, "config.json"));
        Assert.Equal(Path.Combine(folder, "demo-f32.gguf"), ModelLoader.GgufCheckpoint(folder));
        using var model = ModelLoader.Load(folder, Small());
        Assert.Equal("demo-f32", model.Name);
        Assert.Equal([0, 2], model.EosTokenIds); // <|endoftext|>, and <|im_end|> which llama.cpp also stops on
        Assert.NotNull(model.ChatTemplate);

        Assert.Null(ModelLoader.GgufCheckpoint(RepoPaths.DemoModel)); // safetensors: the Hugging Face layout wins
        File.Copy(Path.Combine(folder, "demo-f32.gguf"), Path.Combine(folder, "copy.gguf"));
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(folder, Small()));
        Assert.Contains("2 .gguf files", e.Message);
        e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(Path.Combine(folder, "config.json"), Small()));
        Assert.Contains("not a .gguf", e.Message);
    }

    [Fact]
    public void EndOfGenerationTokensAreLlamaCppsToo()
    {
        // Qwen2's eos is <|im_end|> (2); llama.cpp also ends generation on <|endoftext|> (0) by its text.
        string gguf = Export(RepoPaths.FixtureModel("qwen2-bias-tied"), Path.Combine(_temp, "qwen2.gguf"));
        using var model = ModelLoader.Load(gguf, Small());
        Assert.Equal([0, 2], model.EosTokenIds.Order());
    }

    [Fact]
    public void AGgufWithoutTokenizerNeedsPromptIds()
    {
        string gguf = Export(RepoPaths.DemoModel, Path.Combine(_temp, "bare.gguf"), withTokenizer: false);
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(gguf, Small()));
        Assert.Contains("tokenizer.ggml", e.Message);
        using var model = ModelLoader.Load(gguf, Small() with { RequireTokenizer = false });
        Assert.Null(model.Tokenizer);
        Assert.Null(model.ChatTemplate);
        Assert.Equal([0], model.EosTokenIds); // the exporter writes config.json's eos_token_id
        Assert.Equal(16, Greedy(model, [1, 2, 3], 16).Length);
    }

    /// <summary>More tokens than embedding rows: prompts could hold ids the model cannot read, so the load fails.</summary>
    [Fact]
    public void ATokenizerLargerThanTheModelsVocabularyIsRejected()
    {
        string exported = Export(RepoPaths.DemoModel, Path.Combine(_temp, "demo.gguf"));
        var writer = new GgufWriter(); // the exporter refuses the mismatch, so copy its metadata (no tensors: dummy weights)
        int vocabSize;
        using (var file = GgufFile.Open(exported))
        {
            vocabSize = ((string[])file.Metadata.Values[GgufTokenizerKeys.Tokens]).Length;
            foreach (var (key, value) in file.Metadata.Values)
                writer.Add(key, key switch
                {
                    GgufTokenizerKeys.Tokens => ((string[])value).Append("<extra>").ToArray(),
                    GgufTokenizerKeys.TokenType => ((int[])value).Append((int)GgufTokenType.UserDefined).ToArray(),
                    _ => value,
                });
        }
        string gguf = Path.Combine(_temp, "extra-token.gguf");
        writer.Write(gguf);

        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(gguf, Small() with { DummyWeights = true }));
        Assert.Contains(GgufTokenizerKeys.Tokens, e.Message);
        Assert.Contains($"{vocabSize + 1} tokens", e.Message);
    }

    [Fact]
    public void DummyWeightsNeedOnlyTheGgufMetadata()
    {
        string gguf = Export(RepoPaths.DemoModel, Path.Combine(_temp, "demo.gguf"));
        using var model = ModelLoader.Load(gguf, Small() with { DummyWeights = true, DummyWeightsSeed = 3 });
        Assert.NotNull(model.Tokenizer);
        Assert.Equal(8, Greedy(model, model.Tokenizer!.Encode("hi", addSpecialTokens: true), 8).Length);
        File.Delete(gguf); // the file is not held open
    }
}
