using System.Text;
using Loom.Tokenizers;

namespace Loom.Models.Gguf;

/// <summary>
/// Reads tokenizer.ggml.* into a <see cref="TokenizerDefinition"/> (the type tokenizer.json is read into) and an
/// <see cref="HfTokenizer"/>: "gpt2" becomes byte-level BPE whose split regexes are the ones llama.cpp runs for
/// tokenizer.ggml.pre; "llama" becomes SentencePiece-style BPE as in Llama-2's tokenizer.json (▁ for spaces, byte
/// fallback to &lt;0xNN&gt; tokens), with the stored merges or, when there are none (llama.cpp's converter writes none),
/// merges derived from the scores as transformers' SentencePieceExtractor derives them. CONTROL and UNKNOWN tokens
/// become special added tokens, USER_DEFINED ones plain added tokens. Missing BOS/EOS/UNK ids default as llama.cpp
/// defaults them for SentencePiece (1, 2, 0); byte-level BPE gets none (llama.cpp's fixed 11 is a GPT-2 id,
/// meaningless in other vocabularies). add_bos defaults as llama.cpp's does: on for SentencePiece and the Llama-3
/// pre-tokenizer.
/// </summary>
public static partial class GgufTokenizerReader
{
    private const char SentencePieceSpace = '\u2581';

    /// <summary>Whether the metadata carries a tokenizer Loom can rebuild (a model and a token list).</summary>
    public static bool HasTokenizer(GgufMetadata metadata) =>
        metadata.Contains(GgufTokenizerKeys.Model) && metadata.Contains(GgufTokenizerKeys.Tokens);

    /// <summary>The tokenizer embedded in a .gguf file (the file is closed again before this returns).</summary>
    public static HfTokenizer LoadFromFile(string ggufPath)
    {
        using var file = GgufFile.Open(ggufPath);
        if (!HasTokenizer(file.Metadata)) throw new ModelLoadException($"{ggufPath}: no tokenizer.ggml.* metadata, so no tokenizer.");
        return Load(file.Metadata);
    }

    public static HfTokenizer Load(GgufMetadata metadata)
    {
        var definition = ReadDefinition(metadata);
        try { return HfTokenizer.FromDefinition(definition); }
        catch (TokenizerFormatException e) { throw new ModelLoadException($"{metadata.File}: the GGUF tokenizer is unusable: {e.Message}", e); }
    }

    /// <summary>The tokenizer the metadata describes, as the stages Hugging Face's tokenizer.json would name.</summary>
    /// <exception cref="ModelLoadException">A tokenizer.ggml.* key is missing or malformed (the message names it).</exception>
    public static TokenizerDefinition ReadDefinition(GgufMetadata metadata)
    {
        var vocab = GgufVocabulary.Read(metadata);
        var definition = vocab.IsSentencePiece ? SentencePiece(vocab, metadata.File) : ByteLevel(vocab, metadata.File);
        return definition with { AddedTokens = AddedTokens(vocab), Config = Config(metadata, vocab) };
    }

    private static List<AddedToken> AddedTokens(GgufVocabulary vocab)
    {
        var added = new List<AddedToken>();
        for (int id = 0; id < vocab.Tokens.Length; id++)
        {
            var type = vocab.Types[id];
            if (type is not (GgufTokenType.Control or GgufTokenType.Unknown or GgufTokenType.UserDefined)) continue;
            bool special = type != GgufTokenType.UserDefined;
            added.Add(new AddedToken(id, vocab.Tokens[id], special, SingleWord: false, LStrip: false, RStrip: false, Normalized: !special));
        }
        return added;
    }

    /// <summary>Byte-level BPE: the split regexes of the pre name, then the byte-to-character mapping.</summary>
    private static TokenizerDefinition ByteLevel(GgufVocabulary vocab, string file)
    {
        var pre = vocab.Pre;
        var splits = pre.Regexes.Select(regex => (PreTokenizerDefinition)new PreTokenizerDefinition.Split(
            new PatternDefinition(regex, IsRegex: true, $"{file}: {GgufTokenizerKeys.Pre}"), SplitBehavior.Isolated, Invert: false));
        var model = Model(vocab, vocab.StoredMerges ?? [], file) with { IgnoreMerges = pre.IgnoreMerges };
        return new TokenizerDefinition(model, file)
        {
            Normalizer = pre.Nfc ? new NormalizerDefinition.UnicodeForm(NormalizationForm.FormC) : null,
            PreTokenizer = new PreTokenizerDefinition.Sequence(
                [.. splits, new PreTokenizerDefinition.ByteLevel(AddPrefixSpace: false, UseRegex: false)]),
            Decoder = new DecoderDefinition.ByteLevel(), // BOS/EOS come from add_bos/add_eos in the config, not a post-processor
        };
    }

    /// <summary>SentencePiece-style BPE: spaces as ▁ (prefixed the way the file says), byte fallback, Llama-2's decoder.</summary>
    private static TokenizerDefinition SentencePiece(GgufVocabulary vocab, string file)
    {
        var scheme = vocab.PrependScheme;
        PatternDefinition Literal(string text) => new(text, IsRegex: false, $"{file}: {GgufTokenizerKeys.Model}");
        var decoders = new List<DecoderDefinition>
        {
            new DecoderDefinition.Replace(Literal(SentencePieceSpace.ToString()), " "),
            new DecoderDefinition.ByteFallback(),
            new DecoderDefinition.Fuse(),
        };
        if (scheme != PrependScheme.Never) decoders.Add(new DecoderDefinition.Strip(' ', Start: 1, Stop: 0));
        var model = Model(vocab, vocab.StoredMerges ?? SentencePieceMerges.FromScores(vocab), file) with
        {
            UnkToken = vocab.UnknownId is { } unk ? vocab.Tokens[unk] : null,
            FuseUnk = true,
            ByteFallback = true,
        };
        return new TokenizerDefinition(model, file)
        {
            // "first": the Metaspace pre-tokenizer replaces spaces and prefixes only the first run; otherwise a normalizer does.
            Normalizer = scheme == PrependScheme.First ? null : SpacesAsMarkers(scheme == PrependScheme.Always, Literal(" ")),
            PreTokenizer = scheme == PrependScheme.First
                ? new PreTokenizerDefinition.Metaspace(SentencePieceSpace, PrependScheme.First, SplitAtReplacement: false)
                : null,
            Decoder = new DecoderDefinition.Sequence(decoders),
        };
    }

    private static NormalizerDefinition SpacesAsMarkers(bool prepend, PatternDefinition space)
    {
        var steps = new List<NormalizerDefinition>();
        if (prepend) steps.Add(new NormalizerDefinition.Prepend(SentencePieceSpace.ToString()));
        steps.Add(new NormalizerDefinition.Replace(space, SentencePieceSpace.ToString()));
        return new NormalizerDefinition.Sequence(steps);
    }

    private static BpeDefinition Model(GgufVocabulary vocab, IReadOnlyList<(string Left, string Right)> merges, string file)
    {
        var ids = new Dictionary<string, int>(vocab.Tokens.Length, StringComparer.Ordinal);
        for (int id = 0; id < vocab.Tokens.Length; id++) ids[vocab.Tokens[id]] = id;
        return new BpeDefinition(ids, merges, $"{file}: {GgufTokenizerKeys.Merges}");
    }

    /// <summary>What tokenizer_config.json would hold: special token strings, add_bos/add_eos, chat templates.</summary>
    private static TokenizerConfig Config(GgufMetadata m, GgufVocabulary vocab)
    {
        string? Token(int? id) => id is { } i ? vocab.Tokens[i] : null;
        var templates = ChatTemplates(m);
        return new TokenizerConfig
        {
            ChatTemplates = templates,
            ChatTemplate = templates.GetValueOrDefault("default"),
            BosToken = Token(vocab.BosId),
            EosToken = Token(vocab.EosId),
            UnkToken = Token(vocab.UnknownId),
            PadToken = Token(vocab.PaddingId),
            AddBosToken = vocab.AddBos && vocab.BosId != null,
            AddEosToken = vocab.AddEos && vocab.EosId != null,
        };
    }

    /// <summary>
    /// tokenizer.chat_template under "default" and the named ones (tokenizer.chat_templates) under their names, as
    /// transformers reads the list form of tokenizer_config.json's chat_template.
    /// </summary>
    private static Dictionary<string, string> ChatTemplates(GgufMetadata m)
    {
        var templates = new Dictionary<string, string>(StringComparer.Ordinal);
        if (m.String(GgufTokenizerKeys.ChatTemplate) is { } main) templates["default"] = main;
        foreach (string name in m.Array<string>(GgufTokenizerKeys.ChatTemplateNames) ?? [])
            if (m.String(GgufTokenizerKeys.ChatTemplatePrefix + name) is { } template) templates[name] = template;
        return templates;
    }
}
