namespace Loom.Tokenizers;

/// <summary>
/// The split regexes of the byte-level BPE families as tokenizer.json writes them (and as llama.cpp runs them for
/// tokenizer.ggml.pre, which spells the case-insensitive contractions out as '[sS]|...; (?i:...) is the same
/// language). All are linear under backtracking (no nested quantifiers), so <see cref="TextPattern"/> runs them without
/// a match timeout.
/// </summary>
public static class ByteLevelSplitRegexes
{
    public const string Llama3 =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public const string Qwen2 =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>GPT-2's regex as the ByteLevel pre-tokenizer runs it; llama.cpp drops the final |\s+, which changes
    /// nothing when unmatched text is kept as its own piece.</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>llama.cpp's fallback for "default" and unrecognised names: four splits applied one after another.</summary>
    public static readonly IReadOnlyList<string> LlamaCppDefault =
    [
        @"[\p{P}\$\+<=>\^~\|]+",
        Gpt2,
        @"\p{N}+",
        "[0-9][0-9][0-9]",
    ];
}
