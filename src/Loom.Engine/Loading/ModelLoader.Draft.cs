using Loom.Backends;
using Loom.Engine.Speculative;
using Loom.Models;
using Loom.Models.Config;
using Loom.Models.Gguf;
using Loom.Models.Weights;

namespace Loom.Engine.Loading;

public static partial class ModelLoader
{
    /// <summary>
    /// The target and the draft model of method draft_model. The target's KV cache is planned for both (each block
    /// costs the target's bytes plus the draft's), and the draft gets a cache of exactly the target's block count and
    /// size, so every block id the scheduler hands out names a block in both. The draft takes the target's weight
    /// options (dummy weights with the same seed: the draft of the same config is the target itself), quantized when
    /// the config's "quantization" says so. A draft with another vocabulary is refused.
    /// </summary>
    private static LoadedModel LoadWithDraft(string modelDir, LoaderOptions options, SpeculativeConfig speculative, IProgress<double>? progress)
    {
        string draftPath = speculative.Model!;
        var draftConfig = ReadConfig(draftPath);
        long draftBytes = CreateBackend(options).KvBytesPerBlock(draftConfig, options.Engine.BlockSize, options.Engine.KvCacheDType);
        var target = LoadModel(modelDir, options with { DraftKvBytesPerBlock = draftBytes }, progress);
        try
        {
            var draft = LoadModel(draftPath, DraftOptions(options, speculative, target.Executor.KvCache), null);
            try
            {
                CheckSameVocabulary(target, draft, draftPath);
            }
            catch
            {
                draft.Dispose();
                throw;
            }
            options.Log?.Invoke($"Draft model {draft.Name}: {draftConfig.NumHiddenLayers} layers, {speculative.NumSpeculativeTokens} tokens per step" +
                (speculative.Quantization is null ? "." : $", quantized to {speculative.Quantization.ToUpperInvariant()} while loading."));
            return target with { Draft = draft };
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    private static LoaderOptions DraftOptions(LoaderOptions options, SpeculativeConfig speculative, KvCacheSpec kvCache) => options with
    {
        Engine = options.Engine with { Speculative = null, MaxModelLen = null },
        Quantization = speculative.Quantization switch
        {
            null => null,
            "q8_0" => DType.Q8_0,
            _ => DType.Q4_0,
        },
        RequireTokenizer = false,
        KvCacheTokens = null,
        FixedKvCache = kvCache,
        DraftKvBytesPerBlock = 0,
    };

    /// <summary>The draft checkpoint's config alone (to size the shared KV cache before anything is loaded).</summary>
    private static ModelConfig ReadConfig(string path)
    {
        if (GgufCheckpoint(path) is { } gguf)
        {
            using var source = GgufWeightSource.Open(gguf);
            return source.Config;
        }
        if (!Directory.Exists(path)) throw new ModelLoadException($"Draft model not found: {path} (--speculative-config \"model\").");
        return ModelConfigLoader.Load(path);
    }

    /// <summary>Drafts are token ids of the target's vocabulary: the embedding sizes and tokenizers must agree.</summary>
    private static void CheckSameVocabulary(LoadedModel target, LoadedModel draft, string draftPath)
    {
        if (draft.Config.VocabSize != target.Config.VocabSize)
            throw new ModelLoadException($"Draft model {draftPath} has a vocabulary of {draft.Config.VocabSize} tokens; the target " +
                $"{target.Directory} has {target.Config.VocabSize}: a draft model must share the target's vocabulary.");
        if (draft.Tokenizer is { } d && target.Tokenizer is { } t && d.VocabSize != t.VocabSize)
            throw new ModelLoadException($"Draft model {draftPath} has a tokenizer of {d.VocabSize} tokens; the target's has " +
                $"{t.VocabSize}: a draft model must share the target's tokenizer.");
    }
}
