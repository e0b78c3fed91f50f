using Loom.Tokenizers;

namespace Loom.Models.Gguf;

/// <summary>
/// The byte-level BPE pre-tokenizers that tokenizer.ggml.pre names, as the split regexes llama.cpp runs for them
/// (llm_tokenizer_bpe in llama-vocab.cpp), written in the form Hugging Face tokenizer.json uses
/// (<see cref="ByteLevelSplitRegexes"/>).
/// </summary>
public static class GgufTokenizerPre
{
    /// <summary>
    /// The split regexes for a tokenizer.ggml.pre name (applied in sequence, each isolating its matches), and whether
    /// llama.cpp ignores merges for it (a whole word found in the vocabulary is one token); null for a name Loom does
    /// not know.
    /// </summary>
    public static (IReadOnlyList<string> Regexes, bool IgnoreMerges, bool Nfc)? Lookup(string name) => name switch
    {
        "llama-bpe" or "llama3" or "llama-v3" or "smaug-bpe" or "dbrx" => ([ByteLevelSplitRegexes.Llama3], name is "llama-bpe" or "llama3" or "llama-v3", false),
        "qwen2" or "deepseek-r1-qwen" or "stablelm2" or "megrez" => ([ByteLevelSplitRegexes.Qwen2], false, name is "qwen2" or "deepseek-r1-qwen"),
        "gpt-2" or "phi-2" or "mpt" or "olmo" or "jais" => ([ByteLevelSplitRegexes.Gpt2], false, false),
        "default" => (ByteLevelSplitRegexes.LlamaCppDefault, false, false),
        _ => null,
    };

    /// <summary>
    /// The llama.cpp name for a tokenizer.json split regex, as convert_hf_to_gguf.py's hash table would find it for
    /// the models this regex comes from; "gpt-2" for a ByteLevel pre-tokenizer with its own regex and no Split;
    /// "default" otherwise (llama.cpp's own fallback).
    /// </summary>
    public static string NameFor(string? splitRegex, bool byteLevelUsesRegex) => splitRegex switch
    {
        ByteLevelSplitRegexes.Llama3 => "llama-bpe",
        ByteLevelSplitRegexes.Qwen2 => "qwen2",
        ByteLevelSplitRegexes.Gpt2 => "gpt-2",
        null when byteLevelUsesRegex => "gpt-2",
        _ => "default",
    };
}
