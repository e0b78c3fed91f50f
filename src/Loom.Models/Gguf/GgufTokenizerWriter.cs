using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Loom.Tokenizers;

namespace Loom.Models.Gguf;

/// <summary>
/// Turns a Hugging Face tokenizer (tokenizer.json, tokenizer_config.json, config.json) into the tokenizer.ggml.*
/// metadata llama.cpp reads, the way convert_hf_to_gguf.py writes it: byte-level BPE as "gpt2" (get_vocab_base +
/// SpecialVocab with merges), SentencePiece-style BPE with byte fallback as "llama" (LlamaHfVocab + SpecialVocab).
/// Two deliberate differences, both invisible to llama.cpp's loader: "llama" vocabularies get scores that order
/// tokens by the merge that creates them (LlamaHfVocab writes -1000 for all, which leaves llama.cpp's SentencePiece
/// merging without an order) and keep their merges under tokenizer.ggml.merges (llama.cpp reads merges only for
/// "gpt2"), so that reading the file back rebuilds the exact tokenizer.
/// </summary>
public static partial class GgufTokenizerWriter
{
    private const float UserDefinedScore = -1000f; // what the converter gives added and padding tokens

    /// <summary>Reads DIR/tokenizer.json and, when present, tokenizer_config.json, config.json and chat_template.jinja.</summary>
    public static IReadOnlyList<(string Key, object Value)> FromModelDirectory(string directory)
    {
        string tokenizerPath = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(tokenizerPath)) throw new TokenizerFormatException($"{tokenizerPath}: file not found (GGUF export needs tokenizer.json)");
        string? Optional(string name) => File.Exists(Path.Combine(directory, name)) ? File.ReadAllText(Path.Combine(directory, name)) : null;
        return FromJson(File.ReadAllText(tokenizerPath), Optional("tokenizer_config.json"), Optional("config.json"),
            Optional("chat_template.jinja"), directory);
    }

    /// <summary>Builds the metadata from JSON texts; <paramref name="source"/> names the origin in errors.</summary>
    public static IReadOnlyList<(string Key, object Value)> FromJson(string tokenizerJson, string? tokenizerConfigJson = null,
        string? configJson = null, string? chatTemplateJinja = null, string source = "tokenizer")
    {
        try { return Build(tokenizerJson, tokenizerConfigJson, configJson, chatTemplateJinja, source); }
        catch (Exception e) when (e is InvalidOperationException or FormatException) // JsonNode's GetValue<T> or indexer on another JSON type
        {
            throw new TokenizerFormatException($"{source}: a tokenizer field has an unexpected JSON type: {e.Message}", e);
        }
    }

    private static List<(string Key, object Value)> Build(string tokenizerJson, string? tokenizerConfigJson, string? configJson,
        string? chatTemplateJinja, string source)
    {
        var hf = HfVocabulary.Parse(tokenizerJson, tokenizerConfigJson, configJson, source);
        var metadata = new List<(string Key, object Value)>();
        if (hf.ByteFallback) AddSentencePiece(metadata, hf);
        else AddByteLevel(metadata, hf);
        AddSpecialTokens(metadata, hf);
        AddChatTemplates(metadata, hf.TokenizerConfig?["chat_template"], chatTemplateJinja, source);
        return metadata;
    }

    /// <summary>get_vocab_base: every id in order, added tokens CONTROL when special (or special-looking), else USER_DEFINED.</summary>
    private static void AddByteLevel(List<(string, object)> metadata, HfVocabulary hf)
    {
        var tokens = new string[hf.VocabSize];
        var types = new int[hf.VocabSize];
        for (int id = 0; id < hf.VocabSize; id++)
        {
            if (!hf.TokenById.TryGetValue(id, out var token)) (tokens[id], types[id]) = ($"[PAD{id}]", (int)GgufTokenType.Unused);
            else if (hf.Added.TryGetValue(id, out var added))
                (tokens[id], types[id]) = added.Special || LooksSpecial(token)
                    ? (token, (int)GgufTokenType.Control)
                    : (token.Replace('\u2581', ' '), (int)GgufTokenType.UserDefined); // pre-normalize user-defined spaces
            else (tokens[id], types[id]) = (token, (int)GgufTokenType.Normal);
        }
        metadata.Add((GgufTokenizerKeys.Model, "gpt2"));
        metadata.Add((GgufTokenizerKeys.Pre, GgufTokenizerPre.NameFor(hf.SplitRegex, hf.ByteLevelUsesRegex)));
        metadata.Add((GgufTokenizerKeys.Tokens, tokens));
        metadata.Add((GgufTokenizerKeys.TokenType, types));
        metadata.Add((GgufTokenizerKeys.Merges, MergeStrings(hf.Merges)));
    }

    /// <summary>LlamaHfVocab: &lt;0xNN&gt; tokens BYTE, special tokens CONTROL (the unknown token UNKNOWN), other added tokens USER_DEFINED.</summary>
    private static void AddSentencePiece(List<(string, object)> metadata, HfVocabulary hf)
    {
        var tokens = new string[hf.VocabSize];
        var types = new int[hf.VocabSize];
        var scores = new float[hf.VocabSize];
        var rank = MergeRanks(hf.Merges);
        for (int id = 0; id < hf.VocabSize; id++)
        {
            if (!hf.TokenById.TryGetValue(id, out var token))
            {
                (tokens[id], types[id], scores[id]) = ($"[PAD{id}]", (int)GgufTokenType.Unused, UserDefinedScore);
                continue;
            }
            tokens[id] = token;
            bool isAdded = hf.Added.TryGetValue(id, out var added);
            bool special = (isAdded && added.Special) || hf.SpecialTokenContents.Contains(token);
            if (ByteToken().IsMatch(token)) types[id] = (int)GgufTokenType.Byte;
            else if (token == hf.UnkToken) types[id] = (int)GgufTokenType.Unknown;
            else if (special) types[id] = (int)GgufTokenType.Control;
            else if (isAdded) (types[id], scores[id]) = ((int)GgufTokenType.UserDefined, UserDefinedScore);
            else
            {
                types[id] = (int)GgufTokenType.Normal;
                // Merge order as score: SentencePiece merges the highest-scoring pair first, BPE the lowest-ranked merge.
                scores[id] = -(rank.TryGetValue(token, out int r) ? r + 1 : hf.Merges.Count + 1);
            }
        }
        metadata.Add((GgufTokenizerKeys.Model, "llama"));
        metadata.Add((GgufTokenizerKeys.Pre, "default"));
        metadata.Add((GgufTokenizerKeys.Tokens, tokens));
        metadata.Add((GgufTokenizerKeys.Scores, scores));
        metadata.Add((GgufTokenizerKeys.TokenType, types));
        metadata.Add((GgufTokenizerKeys.Merges, MergeStrings(hf.Merges)));
        switch (hf.PrependScheme)
        {
            case "never": metadata.Add((GgufTokenizerKeys.AddSpacePrefix, false)); break;
            case "first": metadata.Add((GgufTokenizerKeys.LoomPrependScheme, "first")); break;
        }
    }

    /// <summary>
    /// SpecialVocab: token ids (tokenizer_config.json first, then config.json) and the add_bos/add_eos/add_sep flags.
    /// Unlike SpecialVocab, add_bos_token and add_eos_token are always written (false when Hugging Face adds nothing):
    /// llama.cpp's defaults for a missing flag (BOS for "llama" and for "llama-bpe") would otherwise add a BOS the
    /// original tokenizer never adds.
    /// </summary>
    private static void AddSpecialTokens(List<(string, object)> metadata, HfVocabulary hf)
    {
        foreach (var (kind, key) in GgufTokenizerKeys.SpecialIds)
            if (hf.SpecialIds.TryGetValue(kind, out int id)) metadata.Add((key, (uint)id));
        var add = hf.AddSpecial.ToDictionary(a => a.Kind, a => a.Add);
        metadata.Add((GgufTokenizerKeys.AddBos, add.GetValueOrDefault("bos") && hf.SpecialIds.ContainsKey("bos")));
        metadata.Add((GgufTokenizerKeys.AddEos, add.GetValueOrDefault("eos") && hf.SpecialIds.ContainsKey("eos")));
        if (add.TryGetValue("sep", out bool sep)) metadata.Add((GgufTokenizerKeys.AddSep, sep));
    }

    /// <summary>gguf-py add_chat_template: a string, or a list of named templates ("default" plus tokenizer.chat_template.NAME).</summary>
    private static void AddChatTemplates(List<(string, object)> metadata, JsonNode? fromConfig, string? jinjaFile, string source)
    {
        JsonNode? template = fromConfig ?? (jinjaFile is null ? null : JsonValue.Create(jinjaFile));
        switch (template)
        {
            case null: return;
            case JsonValue v when v.TryGetValue(out string? text):
                metadata.Add((GgufTokenizerKeys.ChatTemplate, text));
                return;
            case JsonArray list:
                var names = new List<string>();
                string? fallback = null;
                foreach (var item in list)
                {
                    string name = new((item?["name"]?.GetValue<string>() ?? "").Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());
                    string? text = item?["template"]?.GetValue<string>();
                    if (name.Length == 0 || text is null) continue;
                    if (name == "default") fallback = text;
                    else if (!names.Contains(name))
                    {
                        names.Add(name);
                        metadata.Add((GgufTokenizerKeys.ChatTemplatePrefix + name, text));
                    }
                }
                if (names.Count > 0) metadata.Add((GgufTokenizerKeys.ChatTemplateNames, names.ToArray()));
                if (fallback != null) metadata.Add((GgufTokenizerKeys.ChatTemplate, fallback));
                return;
            default:
                throw new TokenizerFormatException($"{source}: chat_template must be a string or a list of {{name, template}}");
        }
    }

    /// <summary>"left right", with a space inside a token written as U+0120 as gguf-py does for the list form of merges.</summary>
    private static string[] MergeStrings(IReadOnlyList<(string Left, string Right)> merges) =>
        merges.Select(m => m.Left.Replace(' ', '\u0120') + " " + m.Right.Replace(' ', '\u0120')).ToArray();

    /// <summary>For each token a merge creates, the rank of the first such merge.</summary>
    private static Dictionary<string, int> MergeRanks(IReadOnlyList<(string Left, string Right)> merges)
    {
        var rank = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < merges.Count; i++) rank.TryAdd(merges[i].Left + merges[i].Right, i);
        return rank;
    }

    /// <summary>convert_hf_to_gguf.py does_token_look_special: some models mark control tokens as not special.</summary>
    private static bool LooksSpecial(string token) =>
        token is "<pad>" or "<mask>" or "<2mass>" or "[@BOS@]"
        || (token.StartsWith("<|", StringComparison.Ordinal) && token.EndsWith("|>", StringComparison.Ordinal))
        || (token.StartsWith("<\uff5c", StringComparison.Ordinal) && token.EndsWith("\uff5c>", StringComparison.Ordinal))
        || (token.StartsWith("<unused", StringComparison.Ordinal) && token.EndsWith('>'));

    [GeneratedRegex("^<0x[0-9A-Fa-f]{2}>$")]
    internal static partial Regex ByteToken();
}
