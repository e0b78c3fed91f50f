using Loom.Models.Config;

namespace Loom.Backends.Tests.LlamaCpp;

/// <summary>
/// tokenizer.ggml.* metadata for the exported files, without which llama.cpp refuses to load a model. The comparison
/// feeds token ids, so only the vocabulary size matters to it.
/// </summary>
internal static class LlamaCppTokenizerMetadata
{
    public static IReadOnlyList<(string Key, object Value)> For(string modelDirectory, ModelConfig config)
    {
        _ = modelDirectory;
        var tokens = Enumerable.Range(0, config.VocabSize).Select(i => $"t{i}").ToArray();
        return
        [
            ("tokenizer.ggml.model", "gpt2"),
            ("tokenizer.ggml.pre", "default"),
            ("tokenizer.ggml.tokens", tokens),
            ("tokenizer.ggml.token_type", Enumerable.Repeat(1, tokens.Length).ToArray()),
            ("tokenizer.ggml.merges", Array.Empty<string>()),
        ];
    }
}
