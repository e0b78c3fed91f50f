namespace Loom.Models.Gguf;

/// <summary>
/// The byte-level BPE pre-tokenizers that tokenizer.ggml.pre names, as the split regexes llama.cpp runs for them
/// (llm_tokenizer_bpe in llama-vocab.cpp), written in the form Hugging Face tokenizer.json uses (llama.cpp spells the
/// case-insensitive contractions out as '[sS]|...; (?i:...) is the same language).
/// </summary>
public static class GgufTokenizerPre
{
    public const string Llama3Regex =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public const string Qwen2Regex =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>GPT-2's regex as the ByteLevel pre-tokenizer runs it; llama.cpp drops the final |\s+, which changes
    /// nothing when unmatched text is kept as its own piece.</summary>
    public const string Gpt2Regex = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>llama.cpp's fallback for "default" and unrecognised names: four splits applied one after another.</summary>
    public static readonly IReadOnlyList<string> DefaultRegexes =
    [
        @"[\p{P}\$\+<=>\^~\|]+",
        Gpt2Regex,
        @"\p{N}+",
        "[0-9][0-9][0-9]",
    ];

    /// <summary>
    /// The split regexes for a tokenizer.ggml.pre name (applied in sequence, each isolating its matches), and whether
    /// llama.cpp ignores merges for it (a whole word found in the vocabulary is one token); null for a name Loom does
    /// not know.
    /// </summary>
    public static (IReadOnlyList<string> Regexes, bool IgnoreMerges, bool Nfc)? Lookup(string name) => name switch
    {
        "llama-bpe" or "llama3" or "llama-v3" or "smaug-bpe" or "dbrx" => ([Llama3Regex], name is "llama-bpe" or "llama3" or "llama-v3", false),
        "qwen2" or "deepseek-r1-qwen" or "stablelm2" or "megrez" => ([Qwen2Regex], false, name is "qwen2" or "deepseek-r1-qwen"),
        "gpt-2" or "phi-2" or "mpt" or "olmo" or "jais" => ([Gpt2Regex], false, false),
        "default" => (DefaultRegexes, false, false),
        _ => null,
    };

    /// <summary>
    /// The llama.cpp name for a tokenizer.json split regex, as convert_hf_to_gguf.py's hash table would find it for
    /// the models this regex comes from; "gpt-2" for a ByteLevel pre-tokenizer with its own regex and no Split;
    /// "default" otherwise (llama.cpp's own fallback).
    /// </summary>
    public static string NameFor(string? splitRegex, bool byteLevelUsesRegex) => splitRegex switch
    {
        Llama3Regex => "llama-bpe",
        Qwen2Regex => "qwen2",
        Gpt2Regex => "gpt-2",
        null when byteLevelUsesRegex => "gpt-2",
        _ => "default",
    };
}
