using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.ChatTemplates;
using Loom.Models;
using Loom.Models.Config;
using Loom.Models.Weights;
using Loom.Tokenizers;

namespace Loom.Engine.Loading;

/// <summary>
/// Loads a Hugging Face model directory (config.json, generation_config.json, tokenizer files, safetensors) or a GGUF
/// checkpoint (see <see cref="GgufCheckpoint"/>) onto a backend and sizes its paged KV cache. Every failure surfaces
/// as one <see cref="ModelLoadException"/> whose message names the directory, file or field.
/// </summary>
public static partial class ModelLoader
{
    /// <summary>
    /// Loads the model, and with --speculative-config method draft_model its draft too (<see cref="LoadedModel.Draft"/>).
    /// </summary>
    public static LoadedModel Load(string modelDir, LoaderOptions options, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(modelDir);
        ArgumentNullException.ThrowIfNull(options);
        return options.Engine.Speculative is { IsDraftModel: true } speculative
            ? LoadWithDraft(modelDir, options, speculative, progress)
            : LoadModel(modelDir, options, progress);
    }

    private static LoadedModel LoadModel(string modelDir, LoaderOptions options, IProgress<double>? progress)
    {
        if (GgufCheckpoint(modelDir) is { } ggufPath) return LoadGguf(ggufPath, options, progress);
        if (!Directory.Exists(modelDir)) throw new ModelLoadException($"Model directory not found: {modelDir}");
        modelDir = Path.GetFullPath(modelDir);

        var config = ModelConfigLoader.Load(modelDir);
        var generation = GenerationConfigLoader.Load(modelDir);
        var tokenizer = LoadTokenizer(modelDir, options.RequireTokenizer);
        CheckTokenizerFitsConfig(modelDir, tokenizer, config);
        var chatTemplate = LoadChatTemplate(Path.Combine(modelDir, "tokenizer_config.json"), tokenizer);
        return LoadOnBackend(Path.GetFileName(modelDir.TrimEnd(Path.DirectorySeparatorChar)), modelDir, config, generation,
            tokenizer, chatTemplate, () => SafetensorsWeightSource.Open(modelDir), options, progress);
    }

    /// <summary>
    /// What both checkpoint formats share: the backend, the KV cache plan, the weights (the real ones from
    /// <paramref name="openWeights"/>, or dummy ones), optional quantization, and the executor.
    /// </summary>
    private static LoadedModel LoadOnBackend(string name, string location, ModelConfig config, GenerationConfig generation,
        ITokenizer? tokenizer, IChatTemplate? chatTemplate, Func<IWeightSource> openWeights, LoaderOptions options,
        IProgress<double>? progress)
    {
        var backend = CreateBackend(options);
        int maxModelLen = ResolveMaxModelLen(config, options.Engine);
        var kvCache = options.FixedKvCache ?? KvCacheSizing.Plan(config, backend, options.Engine, options.KvCacheTokens, ref maxModelLen,
            options.Log, options.DraftKvBytesPerBlock);

        var weights = options.DummyWeights
            ? new DummyWeightSource(config, options.DummyWeightsDType ?? DummyDType(config), options.DummyWeightsSeed)
            : openWeights();
        weights = Quantize(weights, options, ref progress);
        IModelExecutor executor;
        try
        {
            executor = backend.LoadModel(config, weights, kvCache, progress);
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or NotSupportedException)
        {
            weights.Dispose();
            throw new ModelLoadException($"{location}: {e.Message}", e);
        }
        catch
        {
            weights.Dispose();
            throw;
        }

        return new LoadedModel(name, location, config, tokenizer, chatTemplate, generation, executor, maxModelLen)
        {
            EosTokenIds = EosTokenIds(config, generation, tokenizer),
            BackendName = backend.Name,
            Weights = weights,
        };
    }

    /// <summary>config.json eos ∪ generation_config.json eos ∪ the tokenizer's eos token, in that order, without repeats.</summary>
    public static IReadOnlyList<int> EosTokenIds(ModelConfig config, GenerationConfig generation, ITokenizer? tokenizer)
    {
        IEnumerable<int> ids = config.EosTokenIds.Concat(generation.EosTokenIds);
        if (tokenizer?.EosTokenId is int eos) ids = ids.Append(eos);
        return [.. ids.Distinct()];
    }

    private static HfTokenizer? LoadTokenizer(string modelDir, bool required)
    {
        if (!Path.Exists(Path.Combine(modelDir, "tokenizer.json")))
        {
            if (!required) return null;
            throw new ModelLoadException($"No tokenizer.json in {modelDir} (token ids alone work with --prompt-ids).");
        }
        try
        {
            return HfTokenizer.FromDirectory(modelDir);
        }
        catch (TokenizerFormatException e)
        {
            throw new ModelLoadException($"Cannot read the tokenizer: {e.Message}", e);
        }
    }

    /// <summary>
    /// As for GGUF (<see cref="CheckTokenizerFitsModel"/>): a token id at or past config.json's vocab_size would index
    /// past the embedding table, so such a tokenizer is refused at load rather than on the first prompt that uses it.
    /// </summary>
    private static void CheckTokenizerFitsConfig(string modelDir, HfTokenizer? tokenizer, ModelConfig config)
    {
        if (tokenizer is not null && tokenizer.VocabSize > config.VocabSize)
            throw new ModelLoadException($"{Path.Combine(modelDir, "tokenizer.json")}: token ids (model.vocab, added_tokens) " +
                $"reach {tokenizer.VocabSize - 1} but {Path.Combine(modelDir, ModelConfigLoader.FileName)} has vocab_size " +
                $"{config.VocabSize}: ids must be below it.");
    }

    /// <param name="origin">Where the template came from, for the error message.</param>
    private static IChatTemplate? LoadChatTemplate(string origin, HfTokenizer? tokenizer)
    {
        if (tokenizer?.Config.ChatTemplate is not string source) return null;
        try
        {
            return new JinjaChatTemplate(source);
        }
        catch (ChatTemplateException e)
        {
            throw new ModelLoadException($"{origin}: the chat_template does not parse: {e.Message}", e);
        }
    }

    /// <summary>
    /// With <see cref="LoaderOptions.Quantization"/> set, quantizes the matrices (the first 80% of the progress bar) and
    /// leaves <paramref name="progress"/> covering the rest; otherwise returns the weights as they are.
    /// </summary>
    private static IWeightSource Quantize(IWeightSource weights, LoaderOptions options, ref IProgress<double>? progress)
    {
        if (options.Quantization is not DType type) return weights;
        if (type is not (DType.Q8_0 or DType.Q4_0))
        {
            weights.Dispose();
            throw new ModelLoadException($"Unknown quantization {type}: expected Q8_0 or Q4_0.");
        }
        const double QuantizeShare = 0.8;
        var outer = progress;
        var quantized = QuantizedWeightSource.Quantize(weights, type, outer == null ? null : new ScaledProgress(outer, 0, QuantizeShare));
        options.Log?.Invoke($"Quantized the checkpoint's matrices to {type} while loading.");
        progress = outer == null ? null : new ScaledProgress(outer, QuantizeShare, 1 - QuantizeShare);
        return quantized;
    }

    /// <summary>Maps a stage's 0..1 onto [start, start + share) of the whole load, synchronously (no reordering).</summary>
    private sealed class ScaledProgress(IProgress<double> outer, double start, double share) : IProgress<double>
    {
        public void Report(double value) => outer.Report(start + value * share);
    }

    private static IBackend CreateBackend(LoaderOptions options) => options.Backend.ToLowerInvariant() switch
    {
        "auto" or "cpu" => new CpuBackend(options.NumThreads, options.F16Widening, options.Log),
        _ => throw new ModelLoadException($"Unknown backend '{options.Backend}': expected 'cpu' or 'auto'."),
    };

    private static int ResolveMaxModelLen(ModelConfig config, EngineOptions engine)
    {
        if (engine.MaxModelLen is not int requested) return config.MaxPositionEmbeddings;
        if (requested < 1 || requested > config.MaxPositionEmbeddings)
            throw new ModelLoadException(
                $"max_model_len {requested} must be between 1 and the model's max_position_embeddings ({config.MaxPositionEmbeddings}).");
        return requested;
    }

    private static DType DummyDType(ModelConfig config) => config.TorchDtype switch
    {
        "float32" => DType.F32,
        "float16" => DType.F16,
        _ => DType.BF16,
    };
}
