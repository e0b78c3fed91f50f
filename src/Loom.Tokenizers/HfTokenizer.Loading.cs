using System.Text.Json;
using Loom.IO;

namespace Loom.Tokenizers;

public sealed partial class HfTokenizer
{
    private HfTokenizer(BpeModel model, AddedVocabulary added, Normalizer? normalizer, PreTokenizer? preTokenizer,
        PostProcessor? postProcessor, Decoder? decoder, TokenizerConfig config)
    {
        _model = model;
        _added = added;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _postProcessor = postProcessor;
        _decoder = decoder;
        Config = config;
        _vocabSize = Math.Max(model.VocabSize, added.Tokens.Count == 0 ? 0 : added.Tokens.Max(t => t.Id) + 1);

        // SentencePiece checkpoints without a splitting pre-tokenizer hand the model one word per text; cutting it at
        // runs of ▁ is exact for their vocabularies (see MarkerOnlyLeads) and lets the word cache work.
        if (preTokenizer is null or MetaspacePreTokenizer && model.MarkerOnlyLeads(SentencePieceSpace)) _cutBeforeSpaceRuns = true;

        var lastStage = preTokenizer is SequencePreTokenizer seq && seq.Stages.Count > 0 ? seq.Stages[^1] : preTokenizer;
        if (lastStage is ByteLevelPreTokenizer byteLevel)
        {
            byteLevel.MapBytes = false;
            _mapBytesBeforeModel = true;
        }
    }

    /// <summary>Loads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json.</summary>
    public static HfTokenizer FromDirectory(string directory)
    {
        if (!Directory.Exists(directory)) throw new TokenizerFormatException($"{directory}: tokenizer directory does not exist");
        string config = Path.Combine(directory, "tokenizer_config.json");
        return FromFiles(Path.Combine(directory, "tokenizer.json"), Path.Exists(config) ? config : null);
    }

    public static HfTokenizer FromFiles(string tokenizerJsonPath, string? tokenizerConfigPath = null)
    {
        // Missing, a directory, a FIFO (reading would block for good): each refused with the path named.
        if (RegularFile.Problem(tokenizerJsonPath) is { } problem) throw new TokenizerFormatException(problem);
        if (tokenizerConfigPath != null && RegularFile.Problem(tokenizerConfigPath) is { } configProblem)
            throw new TokenizerFormatException(configProblem);
        return Build(File.ReadAllText(tokenizerJsonPath), tokenizerJsonPath,
            tokenizerConfigPath is null ? null : File.ReadAllText(tokenizerConfigPath), tokenizerConfigPath ?? "");
    }

    /// <summary>Builds a tokenizer from JSON text held in memory (e.g. synthesized from GGUF metadata).</summary>
    public static HfTokenizer FromJson(string tokenizerJson, string? tokenizerConfigJson = null) =>
        Build(tokenizerJson, "tokenizer.json (in memory)", tokenizerConfigJson, "tokenizer_config.json (in memory)");

    private static HfTokenizer Build(string tokenizerJson, string source, string? configJson, string configSource)
    {
        var config = configJson is null ? TokenizerConfig.Empty : TokenizerConfig.Parse(configJson, configSource);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(tokenizerJson, new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new TokenizerFormatException($"{source}: not valid JSON: {e.Message}", e); }
        using (doc)
        {
            var root = new TokenizerJson(doc.RootElement, source, "$");
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw root.Error("expected a JSON object");
            var normalizer = Normalizer.FromJson(root.Child("normalizer"));
            long idBound = IdBound(root);
            var added = new AddedVocabulary(ParseAddedTokens(root.Child("added_tokens"), idBound), normalizer);
            var model = ParseModel(root.Required("model"), idBound);
            var postProcessor = ApplyConfigSpecialTokens(PostProcessor.FromJson(root.Child("post_processor")), config, added, model, source);
            return new HfTokenizer(model, added, normalizer, PreTokenizer.FromJson(root.Child("pre_tokenizer")),
                postProcessor, Decoder.FromJson(root.Child("decoder")), config);
        }
    }

    /// <summary>
    /// transformers rebuilds the post-processor from add_bos_token/add_eos_token when the config asks for either
    /// (LlamaTokenizerFast.update_post_processor); otherwise tokenizer.json's post-processor stands.
    /// </summary>
    private static PostProcessor? ApplyConfigSpecialTokens(PostProcessor? fromJson, TokenizerConfig config,
        AddedVocabulary added, BpeModel model, string source)
    {
        if (config.AddBosToken != true && config.AddEosToken != true) return fromJson;
        int Id(string? token, string field) =>
            token is null ? throw new TokenizerFormatException($"{source}: {field} is requested but no token is configured")
            : added.ByContent(token)?.Id ?? model.TokenToId(token)
              ?? throw new TokenizerFormatException($"{source}: {field} token \"{token}\" is not in the vocabulary");
        int[] before = config.AddBosToken == true ? [Id(config.BosToken, "add_bos_token")] : [];
        int[] after = config.AddEosToken == true ? [Id(config.EosToken, "add_eos_token")] : [];
        return new TemplatePostProcessor(before, after);
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

    private static List<AddedToken> ParseAddedTokens(TokenizerJson json, long idBound)
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

    private static BpeModel ParseModel(TokenizerJson json, long idBound)
    {
        string type = json.Child("type").StringOrNull() ?? (json.Child("merges").IsNull ? "unknown" : "BPE");
        if (type != "BPE") throw json.Error($"model type \"{type}\" is not supported (only BPE)");
        if (!(json.Child("dropout").IsNull || json.Child("dropout").Element.GetDouble() == 0))
            throw json.Error("BPE dropout is not supported for inference");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (token, id) in json.Required("vocab").Properties()) vocab[token] = TokenId(id, idBound);

        var merges = new List<(string, string)>();
        foreach (var merge in json.Required("merges").Items())
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

        return new BpeModel(vocab, merges, json.Child("unk_token").StringOrNull(), json.Child("byte_fallback").Bool(false),
            json.Child("fuse_unk").Bool(false), json.Child("ignore_merges").Bool(false),
            json.Child("continuing_subword_prefix").StringOrNull(), json.Child("end_of_word_suffix").StringOrNull(),
            message => json.Error(message));
    }
}
