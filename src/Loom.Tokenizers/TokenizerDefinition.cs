namespace Loom.Tokenizers;

/// <summary>
/// Everything an <see cref="HfTokenizer"/> is built from, whichever file described it: tokenizer.json with
/// tokenizer_config.json (<see cref="TokenizerJsonReader"/>), or a GGUF file's tokenizer.ggml.* metadata (read by
/// Loom.Models). Data only: <see cref="HfTokenizer.FromDefinition"/> checks it and builds the stages that run.
/// </summary>
/// <param name="Model">The BPE model: vocabulary, merges and their options.</param>
/// <param name="Source">The file it came from, named in errors.</param>
public sealed record TokenizerDefinition(BpeDefinition Model, string Source)
{
    /// <summary>tokenizer.json "added_tokens": found in the text before the model runs; ids may repeat vocab ids.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; init; } = [];

    public NormalizerDefinition? Normalizer { get; init; }

    public PreTokenizerDefinition? PreTokenizer { get; init; }

    /// <summary>Runs only when special tokens are requested; <see cref="Config"/>'s add_bos/add_eos replace it.</summary>
    public PostProcessorDefinition? PostProcessor { get; init; }

    public DecoderDefinition? Decoder { get; init; }

    /// <summary>Special token strings, add_bos/add_eos and the chat templates (tokenizer_config.json).</summary>
    public TokenizerConfig Config { get; init; } = TokenizerConfig.Empty;
}

/// <summary>tokenizer.json "model" of type BPE (tokenizers' BPE options; dropout is not supported for inference).</summary>
/// <param name="Vocab">Token string to id.</param>
/// <param name="Merges">In rank order: the first applies first.</param>
/// <param name="Origin">Where the model was described ("file: $.model"), named in errors.</param>
public sealed record BpeDefinition(IReadOnlyDictionary<string, int> Vocab, IReadOnlyList<(string Left, string Right)> Merges, string Origin)
{
    public string? UnkToken { get; init; }
    public bool ByteFallback { get; init; }
    public bool FuseUnk { get; init; }
    /// <summary>A whole word found in the vocabulary is one token, whatever the merges say (Llama-3).</summary>
    public bool IgnoreMerges { get; init; }
    public string? ContinuingSubwordPrefix { get; init; }
    public string? EndOfWordSuffix { get; init; }
}

/// <summary>A tokenizers "pattern": a literal string or a regex (oniguruma-style, as tokenizer.json writes it).</summary>
/// <param name="Origin">Where the pattern was described ("file: $.json.path"), named in errors and timeouts.</param>
public sealed record PatternDefinition(string Text, bool IsRegex, string Origin);
