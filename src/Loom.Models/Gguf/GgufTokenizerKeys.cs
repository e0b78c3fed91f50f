namespace Loom.Models.Gguf;

/// <summary>Token types as llama.cpp numbers them in tokenizer.ggml.token_type (llama_token_type).</summary>
public enum GgufTokenType
{
    Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
}

/// <summary>
/// The tokenizer metadata keys of GGUF as gguf-py (constants.py, Keys.Tokenizer) spells them — "seperator" included —
/// plus the one Loom-only key that records what the standard keys cannot say.
/// </summary>
public static class GgufTokenizerKeys
{
    public const string Model = "tokenizer.ggml.model";                 // "gpt2" (byte-level BPE) or "llama" (SentencePiece)
    public const string Pre = "tokenizer.ggml.pre";                     // the pre-tokenizer's llama.cpp name
    public const string Tokens = "tokenizer.ggml.tokens";               // string[vocab]
    public const string TokenType = "tokenizer.ggml.token_type";        // int32[vocab], GgufTokenType
    public const string Scores = "tokenizer.ggml.scores";               // float32[vocab]
    public const string Merges = "tokenizer.ggml.merges";               // string[]: "left right"
    public const string BosId = "tokenizer.ggml.bos_token_id";          // uint32
    public const string EosId = "tokenizer.ggml.eos_token_id";
    public const string UnknownId = "tokenizer.ggml.unknown_token_id";
    public const string SeparatorId = "tokenizer.ggml.seperator_token_id";
    public const string PaddingId = "tokenizer.ggml.padding_token_id";
    public const string ClsId = "tokenizer.ggml.cls_token_id";
    public const string MaskId = "tokenizer.ggml.mask_token_id";
    public const string AddBos = "tokenizer.ggml.add_bos_token";        // bool
    public const string AddEos = "tokenizer.ggml.add_eos_token";
    public const string AddSep = "tokenizer.ggml.add_sep_token";
    public const string AddSpacePrefix = "tokenizer.ggml.add_space_prefix";
    public const string ChatTemplate = "tokenizer.chat_template";       // string
    public const string ChatTemplateNames = "tokenizer.chat_templates";  // string[] of the named extra templates
    public const string ChatTemplatePrefix = "tokenizer.chat_template."; // + name

    /// <summary>
    /// Loom only: "first" when a SentencePiece tokenizer prepends ▁ only at the very start of the text (the Metaspace
    /// pre-tokenizer with prepend_scheme "first", transformers' legacy=false), which llama.cpp's keys cannot express;
    /// absent means llama.cpp's behaviour (▁ before every text run, the legacy form). llama.cpp ignores it.
    /// </summary>
    public const string LoomPrependScheme = "loom.tokenizer.prepend_scheme";

    /// <summary>The special-token kinds SpecialVocab reads from tokenizer_config.json and config.json, with their GGUF keys.</summary>
    public static readonly IReadOnlyList<(string Kind, string Key)> SpecialIds =
    [
        ("bos", BosId), ("eos", EosId), ("unk", UnknownId), ("sep", SeparatorId), ("pad", PaddingId), ("cls", ClsId),
        ("mask", MaskId),
    ];
}
