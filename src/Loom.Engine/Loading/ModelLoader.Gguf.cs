using Loom.Models;
using Loom.Models.Config;
using Loom.Models.Gguf;
using Loom.Tokenizers;

namespace Loom.Engine.Loading;

public static partial class ModelLoader
{
    /// <summary>
    /// The GGUF file a model path names: the path itself when it is a .gguf file, or the single .gguf inside a
    /// directory that holds no safetensors; null for a Hugging Face directory (or a path that does not exist).
    /// </summary>
    public static string? GgufCheckpoint(string modelPath)
    {
        if (File.Exists(modelPath))
        {
            if (modelPath.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) return Path.GetFullPath(modelPath);
            throw new ModelLoadException($"{modelPath} is a file but not a .gguf checkpoint: give a model directory or a .gguf file.");
        }
        if (!Directory.Exists(modelPath) || Directory.EnumerateFiles(modelPath, "*.safetensors").Any()) return null;
        var ggufs = Directory.GetFiles(modelPath, "*.gguf");
        return ggufs.Length switch
        {
            0 => null,
            1 => Path.GetFullPath(ggufs[0]),
            _ => throw new ModelLoadException($"{modelPath} holds {ggufs.Length} .gguf files " +
                $"({string.Join(", ", ggufs.Select(Path.GetFileName).Order(StringComparer.Ordinal))}): give one of them as the model."),
        };
    }

    /// <summary>
    /// A GGUF checkpoint: config from the {arch}.* keys, weights memory-mapped from the file, tokenizer and chat
    /// template from tokenizer.ggml.* and tokenizer.chat_template, EOS ids from the eos/eot/eom keys, the tokenizer and
    /// llama.cpp's end-of-generation tokens. GGUF has no generation_config, so sampling defaults are the engine's.
    /// </summary>
    private static LoadedModel LoadGguf(string path, LoaderOptions options, IProgress<double>? progress)
    {
        var source = GgufWeightSource.Open(path);
        bool handedOver = false; // once true, the source is no longer this method's to dispose
        try
        {
            var metadata = source.File.Metadata;
            var tokenizer = LoadGgufTokenizer(metadata, options.RequireTokenizer);
            var chatTemplate = LoadChatTemplate($"{path}: {GgufTokenizerKeys.ChatTemplate}", tokenizer);
            var config = source.Config;
            CheckTokenizerFitsModel(path, tokenizer, config);
            if (options.DummyWeights)
            {
                source.Dispose(); // the config and the tokenizer were all it was needed for
                handedOver = true;
            }
            var model = LoadOnBackend(Path.GetFileNameWithoutExtension(path), path, config, GenerationConfig.Empty, tokenizer,
                chatTemplate, () => { handedOver = true; return source; }, options, progress);
            return model with { EosTokenIds = [.. model.EosTokenIds.Union(EndOfGenerationIds(tokenizer))] };
        }
        catch
        {
            if (!handedOver) source.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The tokens llama.cpp ends generation on by their text alone (llama_vocab::impl::load, special_eog_ids), so that a
    /// GGUF file stops where llama.cpp stops on it: chat models whose eos_token_id is a generic end of text (Phi-3's
    /// &lt;|endoftext|&gt; with turns ending in &lt;|end|&gt;) would otherwise run past the end of their turn.
    /// </summary>
    private static readonly string[] EndOfGenerationTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
        "<|end_of_text|>", "<end_of_utterance>",
    ];

    private static IEnumerable<int> EndOfGenerationIds(HfTokenizer? tokenizer) =>
        tokenizer is null ? [] : EndOfGenerationTexts.Select(tokenizer.TokenToId).OfType<int>();

    /// <summary>
    /// A tokenizer with more tokens than the model has embedding rows would encode prompts the model cannot read
    /// (llama.cpp refuses such a file too); fewer tokens is fine (ids past the list decode to nothing).
    /// </summary>
    private static void CheckTokenizerFitsModel(string path, HfTokenizer? tokenizer, ModelConfig config)
    {
        if (tokenizer is not null && tokenizer.VocabSize > config.VocabSize)
            throw new ModelLoadException($"{path}: {GgufTokenizerKeys.Tokens} holds {tokenizer.VocabSize} tokens but the model's " +
                $"vocabulary (token_embd.weight, vocab_size) has {config.VocabSize}.");
    }

    private static HfTokenizer? LoadGgufTokenizer(GgufMetadata metadata, bool required)
    {
        if (GgufTokenizerReader.HasTokenizer(metadata)) return GgufTokenizerReader.Load(metadata);
        if (!required) return null;
        throw new ModelLoadException(
            $"{metadata.File}: no tokenizer.ggml.* metadata, so no tokenizer (token ids alone work with --prompt-ids).");
    }
}
