using System.Text;
using System.Text.Json;
using Loom.Tokenizers;

namespace Loom.Models.Gguf;

/// <summary>A tokenizer rebuilt from GGUF metadata, as the two JSON files Hugging Face would ship it in.</summary>
public sealed record GgufTokenizerJson(string TokenizerJson, string TokenizerConfigJson);

/// <summary>
/// Reads tokenizer.ggml.* back into a Hugging Face tokenizer.json (in memory) and an <see cref="HfTokenizer"/>:
/// "gpt2" becomes byte-level BPE whose split regexes are the ones llama.cpp runs for tokenizer.ggml.pre; "llama"
/// becomes SentencePiece-style BPE as in Llama-2's tokenizer.json (▁ for spaces, byte fallback to &lt;0xNN&gt; tokens),
/// with the stored merges or, when there are none (llama.cpp's converter writes none), merges derived from the
/// scores as transformers' SentencePieceExtractor derives them. CONTROL and UNKNOWN tokens become special added
/// tokens, USER_DEFINED ones plain added tokens. Missing BOS/EOS/UNK ids default as llama.cpp defaults them for
/// SentencePiece (1, 2, 0); byte-level BPE gets none (llama.cpp's fixed 11 is a GPT-2 id, meaningless in other
/// vocabularies). add_bos defaults as llama.cpp's does: on for SentencePiece and the Llama-3 pre-tokenizer.
/// </summary>
public static partial class GgufTokenizerReader
{
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
        var json = ToHfJson(metadata);
        try { return HfTokenizer.FromJson(json.TokenizerJson, json.TokenizerConfigJson); }
        catch (TokenizerFormatException e) { throw new ModelLoadException($"{metadata.File}: the GGUF tokenizer is unusable: {e.Message}", e); }
    }

    public static GgufTokenizerJson ToHfJson(GgufMetadata metadata)
    {
        var vocab = GgufVocabulary.Read(metadata);
        var tokenizer = new MemoryStream();
        using (var w = new Utf8JsonWriter(tokenizer))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            WriteAddedTokens(w, vocab);
            if (vocab.IsSentencePiece) WriteSentencePiece(w, vocab);
            else WriteByteLevel(w, vocab);
            w.WriteEndObject();
        }
        return new GgufTokenizerJson(Encoding.UTF8.GetString(tokenizer.ToArray()), TokenizerConfig(metadata, vocab));
    }

    private static void WriteAddedTokens(Utf8JsonWriter w, GgufVocabulary vocab)
    {
        w.WriteStartArray("added_tokens");
        for (int id = 0; id < vocab.Tokens.Length; id++)
        {
            var type = vocab.Types[id];
            if (type is not (GgufTokenType.Control or GgufTokenType.Unknown or GgufTokenType.UserDefined)) continue;
            bool special = type != GgufTokenType.UserDefined;
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("content", vocab.Tokens[id]);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", !special);
            w.WriteBoolean("special", special);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>Byte-level BPE: the split regexes of the pre name, then the byte-to-character mapping.</summary>
    private static void WriteByteLevel(Utf8JsonWriter w, GgufVocabulary vocab)
    {
        var pre = vocab.Pre;
        w.WritePropertyName("normalizer");
        if (pre.Nfc) { w.WriteStartObject(); w.WriteString("type", "NFC"); w.WriteEndObject(); }
        else w.WriteNullValue();

        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        foreach (string regex in pre.Regexes)
        {
            w.WriteStartObject();
            w.WriteString("type", "Split");
            w.WriteStartObject("pattern");
            w.WriteString("Regex", regex);
            w.WriteEndObject();
            w.WriteString("behavior", "Isolated");
            w.WriteBoolean("invert", false);
            w.WriteEndObject();
        }
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteNull("post_processor"); // BOS/EOS come from add_bos_token/add_eos_token in the config
        w.WriteStartObject("decoder");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", true);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
        WriteModel(w, vocab, vocab.StoredMerges ?? [], byteFallback: false, ignoreMerges: pre.IgnoreMerges);
    }

    /// <summary>SentencePiece-style BPE: spaces as ▁ (prefixed the way the file says), byte fallback, Llama-2's decoder.</summary>
    private static void WriteSentencePiece(Utf8JsonWriter w, GgufVocabulary vocab)
    {
        string scheme = vocab.PrependScheme;
        w.WritePropertyName("normalizer");
        if (scheme == "first") w.WriteNullValue(); // the Metaspace pre-tokenizer replaces spaces and prefixes the first run
        else
        {
            w.WriteStartObject();
            w.WriteString("type", "Sequence");
            w.WriteStartArray("normalizers");
            if (scheme == "always") { w.WriteStartObject(); w.WriteString("type", "Prepend"); w.WriteString("prepend", "\u2581"); w.WriteEndObject(); }
            w.WriteStartObject();
            w.WriteString("type", "Replace");
            w.WriteStartObject("pattern");
            w.WriteString("String", " ");
            w.WriteEndObject();
            w.WriteString("content", "\u2581");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WritePropertyName("pre_tokenizer");
        if (scheme == "first")
        {
            w.WriteStartObject();
            w.WriteString("type", "Metaspace");
            w.WriteString("replacement", "\u2581");
            w.WriteString("prepend_scheme", "first");
            w.WriteBoolean("split", false);
            w.WriteEndObject();
        }
        else w.WriteNullValue();

        w.WriteNull("post_processor");
        w.WriteStartObject("decoder");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("decoders");
        w.WriteStartObject();
        w.WriteString("type", "Replace");
        w.WriteStartObject("pattern");
        w.WriteString("String", "\u2581");
        w.WriteEndObject();
        w.WriteString("content", " ");
        w.WriteEndObject();
        w.WriteStartObject(); w.WriteString("type", "ByteFallback"); w.WriteEndObject();
        w.WriteStartObject(); w.WriteString("type", "Fuse"); w.WriteEndObject();
        if (scheme != "never")
        {
            w.WriteStartObject();
            w.WriteString("type", "Strip");
            w.WriteString("content", " ");
            w.WriteNumber("start", 1);
            w.WriteNumber("stop", 0);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        WriteModel(w, vocab, vocab.StoredMerges ?? SentencePieceMerges.FromScores(vocab), byteFallback: true, ignoreMerges: false);
    }

    private static void WriteModel(Utf8JsonWriter w, GgufVocabulary vocab, IReadOnlyList<(string Left, string Right)> merges,
        bool byteFallback, bool ignoreMerges)
    {
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        if (byteFallback && vocab.UnknownId is { } unk) w.WriteString("unk_token", vocab.Tokens[unk]);
        else w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", byteFallback);
        w.WriteBoolean("byte_fallback", byteFallback);
        w.WriteBoolean("ignore_merges", ignoreMerges);
        w.WriteStartObject("vocab");
        for (int id = 0; id < vocab.Tokens.Length; id++) w.WriteNumber(vocab.Tokens[id], id);
        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach (var (left, right) in merges)
        {
            w.WriteStartArray();
            w.WriteStringValue(left);
            w.WriteStringValue(right);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>tokenizer_config.json: special token strings, add_bos/add_eos, chat templates.</summary>
    private static string TokenizerConfig(GgufMetadata m, GgufVocabulary vocab)
    {
        var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            void Token(string name, int? id)
            {
                if (id is { } i) w.WriteString(name, vocab.Tokens[i]);
            }
            Token("bos_token", vocab.BosId);
            Token("eos_token", vocab.EosId);
            Token("unk_token", vocab.UnknownId);
            Token("pad_token", vocab.PaddingId);
            w.WriteBoolean("add_bos_token", vocab.AddBos && vocab.BosId != null);
            w.WriteBoolean("add_eos_token", vocab.AddEos && vocab.EosId != null);
            WriteChatTemplates(w, m);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>tokenizer.chat_template, plus the named ones (tokenizer.chat_templates) as transformers' list form.</summary>
    private static void WriteChatTemplates(Utf8JsonWriter w, GgufMetadata m)
    {
        string? main = m.String(GgufTokenizerKeys.ChatTemplate);
        string[] names = m.Array<string>(GgufTokenizerKeys.ChatTemplateNames) ?? [];
        if (names.Length == 0)
        {
            if (main != null) w.WriteString("chat_template", main);
            return;
        }
        w.WriteStartArray("chat_template");
        void Named(string name, string template)
        {
            w.WriteStartObject();
            w.WriteString("name", name);
            w.WriteString("template", template);
            w.WriteEndObject();
        }
        if (main != null) Named("default", main);
        foreach (string name in names)
            if (m.String(GgufTokenizerKeys.ChatTemplatePrefix + name) is { } template) Named(name, template);
        w.WriteEndArray();
    }
}
