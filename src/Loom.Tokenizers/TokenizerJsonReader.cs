using System.Text.Json;

namespace Loom.Tokenizers;

/// <summary>
/// Reads Hugging Face tokenizer.json text into a <see cref="TokenizerDefinition"/>. Every error in the shape of the
/// file (a missing field, a wrong JSON type, an unsupported type name) names the file and the JSON path.
/// </summary>
public static partial class TokenizerJsonReader
{
    /// <param name="tokenizerJson">The text of tokenizer.json.</param>
    /// <param name="source">Names the file in errors.</param>
    /// <param name="config">tokenizer_config.json, already read (<see cref="TokenizerConfig.Parse"/>).</param>
    public static TokenizerDefinition Read(string tokenizerJson, string source, TokenizerConfig config)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(tokenizerJson, new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new TokenizerFormatException($"{source}: not valid JSON: {e.Message}", e); }
        using (doc)
        {
            var root = new TokenizerJson(doc.RootElement, source, "$");
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw root.Error("expected a JSON object");
            var normalizer = Normalizer(root.Child("normalizer"));
            long idBound = IdBound(root);
            var added = AddedTokens(root.Child("added_tokens"), idBound);
            var model = Model(root.Required("model"), idBound);
            return new TokenizerDefinition(model, source)
            {
                Normalizer = normalizer,
                AddedTokens = added,
                PostProcessor = PostProcessor(root.Child("post_processor")),
                PreTokenizer = PreTokenizer(root.Child("pre_tokenizer")),
                Decoder = Decoder(root.Child("decoder")),
                Config = config,
            };
        }
    }

    /// <summary>
    /// Ids index per-id tables (id to token here, embedding rows in the model), so they must be about dense: each
    /// below the number of entries that can claim one, the vocab's plus the added tokens'. A real tokenizer always is;
    /// a hostile one with id 2^31-1 would overflow the table size, 2^30 would allocate a 2^30-entry table.
    /// </summary>
    private static long IdBound(TokenizerJson root)
    {
        var vocab = root.Child("model").Child("vocab").Element;
        var added = root.Child("added_tokens").Element;
        return (vocab.ValueKind == JsonValueKind.Object ? vocab.GetPropertyCount() : 0L)
            + (added.ValueKind == JsonValueKind.Array ? added.GetArrayLength() : 0L);
    }

    private static int TokenId(TokenizerJson json, long idBound)
    {
        int id = json.Int(0);
        if (id < 0 || id >= idBound)
            throw json.Error($"token id {id} is out of range: ids must lie in [0, {idBound}), the number of vocab and added_tokens entries");
        return id;
    }

    private static List<AddedToken> AddedTokens(TokenizerJson json, long idBound)
    {
        var tokens = new List<AddedToken>();
        if (json.IsNull) return tokens;
        foreach (var t in json.Items())
        {
            bool special = t.Child("special").Bool(false);
            tokens.Add(new AddedToken(TokenId(t.Required("id"), idBound), t.Required("content").String(), special,
                t.Child("single_word").Bool(false), t.Child("lstrip").Bool(false), t.Child("rstrip").Bool(false),
                t.Child("normalized").Bool(!special)));
        }
        return tokens;
    }

    private static BpeDefinition Model(TokenizerJson json, long idBound)
    {
        string type = json.Child("type").StringOrNull() ?? (json.Child("merges").IsNull ? "unknown" : "BPE");
        if (type != "BPE") throw json.Error($"model type \"{type}\" is not supported (only BPE)");
        if (!(json.Child("dropout").IsNull || json.Child("dropout").Element.GetDouble() == 0))
            throw json.Error("BPE dropout is not supported for inference");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (token, id) in json.Required("vocab").Properties()) vocab[token] = TokenId(id, idBound);
        return new BpeDefinition(vocab, Merges(json.Required("merges")), $"{json.Source}: {json.Path}")
        {
            UnkToken = json.Child("unk_token").StringOrNull(),
            ByteFallback = json.Child("byte_fallback").Bool(false),
            FuseUnk = json.Child("fuse_unk").Bool(false),
            IgnoreMerges = json.Child("ignore_merges").Bool(false),
            ContinuingSubwordPrefix = json.Child("continuing_subword_prefix").StringOrNull(),
            EndOfWordSuffix = json.Child("end_of_word_suffix").StringOrNull(),
        };
    }

    /// <summary>Each merge is written "left right" (older files) or ["left", "right"].</summary>
    private static List<(string, string)> Merges(TokenizerJson json)
    {
        var merges = new List<(string, string)>();
        foreach (var merge in json.Items())
        {
            if (merge.Element.ValueKind == JsonValueKind.String)
            {
                string line = merge.String();
                int space = line.IndexOf(' ');
                if (space < 0 || line.IndexOf(' ', space + 1) >= 0) throw merge.Error($"merge \"{line}\" is not two tokens separated by one space");
                merges.Add((line[..space], line[(space + 1)..]));
            }
            else
            {
                var parts = merge.Items().ToArray();
                if (parts.Length != 2) throw merge.Error("a merge pair must have exactly two tokens");
                merges.Add((parts[0].String(), parts[1].String()));
            }
        }
        return merges;
    }
}
