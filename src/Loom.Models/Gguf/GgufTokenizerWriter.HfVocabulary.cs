using System.Text.Json;
using System.Text.Json.Nodes;
using Loom.Tokenizers;

namespace Loom.Models.Gguf;

public static partial class GgufTokenizerWriter
{
    /// <summary>What the GGUF export needs from tokenizer.json, tokenizer_config.json and config.json.</summary>
    private sealed class HfVocabulary
    {
        public required int VocabSize { get; init; }
        public required Dictionary<int, string> TokenById { get; init; }
        public required Dictionary<int, (string Content, bool Special)> Added { get; init; }
        public required List<(string Left, string Right)> Merges { get; init; }
        public required bool ByteFallback { get; init; }
        public string? UnkToken { get; init; }
        public string? SplitRegex { get; init; }
        public bool ByteLevelUsesRegex { get; init; }
        /// <summary>SentencePiece ▁ prefix: "always" (Prepend normalizer or Metaspace always), "first", or "never".</summary>
        public string PrependScheme { get; init; } = "never";
        /// <summary>bos/eos/unk/pad and additional special tokens named by tokenizer_config.json (transformers' all_special_tokens).</summary>
        public required HashSet<string> SpecialTokenContents { get; init; }
        public required Dictionary<string, int> SpecialIds { get; init; }
        public required List<(string Kind, bool Add)> AddSpecial { get; init; }
        public JsonObject? TokenizerConfig { get; init; }

        public static HfVocabulary Parse(string tokenizerJson, string? tokenizerConfigJson, string? configJson, string source)
        {
            var root = ParseObject(tokenizerJson, $"{source}: tokenizer.json");
            var tokenizerConfig = tokenizerConfigJson is null ? null : ParseObject(tokenizerConfigJson, $"{source}: tokenizer_config.json");
            var config = configJson is null ? null : ParseObject(configJson, $"{source}: config.json");

            var model = root["model"] as JsonObject ?? throw Error(source, "tokenizer.json has no \"model\" object");
            string type = model["type"]?.GetValue<string>() ?? "BPE";
            if (type != "BPE") throw Error(source, $"model type \"{type}\" cannot be written as a GGUF tokenizer (only BPE)");
            bool byteFallback = model["byte_fallback"]?.GetValue<bool>() ?? false;

            var tokenById = new Dictionary<int, string>();
            foreach (var (token, id) in model["vocab"] as JsonObject ?? throw Error(source, "model.vocab is missing"))
                tokenById[TokenId(id, source, $"model.vocab \"{token}\"")] = token;
            var added = new Dictionary<int, (string, bool)>();
            foreach (var t in root["added_tokens"] as JsonArray ?? [])
            {
                if (t is not JsonObject entry) throw Error(source, $"added_tokens entry {t?.ToJsonString() ?? "null"} is not an object");
                int id = TokenId(entry["id"], source, "added_tokens id");
                string content = entry["content"]?.GetValue<string>() ?? throw Error(source, $"added token {id} has no content");
                added[id] = (content, entry["special"]?.GetValue<bool>() ?? false);
                tokenById[id] = content;
            }

            int maxId = tokenById.Count == 0 ? -1 : tokenById.Keys.Max();
            int vocabSize = config?["vocab_size"] is JsonValue v && v.TryGetValue(out int size) ? size : maxId + 1;
            if (maxId >= vocabSize)
                throw Error(source, $"token id {maxId} does not fit config.json vocab_size {vocabSize}");
            if (vocabSize > MaxVocabSize) // the export allocates one entry per id: a corrupt id must not exhaust memory
                throw Error(source, $"a vocabulary of {vocabSize} ids (largest token id or config.json vocab_size) is over {MaxVocabSize}, larger than any real one");

            var (splitRegex, byteLevel, byteLevelRegex) = ScanPreTokenizer(root["pre_tokenizer"]);
            if (!byteFallback && !byteLevel && !HasType(root["decoder"], "ByteLevel"))
                throw Error(source, "neither byte-level BPE (a ByteLevel pre-tokenizer) nor SentencePiece-style BPE (byte_fallback); GGUF cannot describe it");

            var specialContents = new HashSet<string>(StringComparer.Ordinal);
            foreach (var kind in new[] { "bos", "eos", "unk", "pad" })
                if (TokenContent(tokenizerConfig?[kind + "_token"]) is { } s) specialContents.Add(s);
            foreach (var extra in tokenizerConfig?["additional_special_tokens"] as JsonArray ?? [])
                if (TokenContent(extra) is { } s) specialContents.Add(s);

            var (ids, add) = SpecialTokens(root, tokenizerConfig, config, added, vocabSize);
            return new HfVocabulary
            {
                VocabSize = vocabSize,
                TokenById = tokenById,
                Added = added,
                Merges = ParseMerges(model["merges"], source),
                ByteFallback = byteFallback,
                UnkToken = model["unk_token"]?.GetValue<string>(),
                SplitRegex = splitRegex,
                ByteLevelUsesRegex = byteLevelRegex,
                PrependScheme = PrependSchemeOf(root),
                SpecialTokenContents = specialContents,
                SpecialIds = ids,
                AddSpecial = add,
                TokenizerConfig = tokenizerConfig,
            };
        }

        private static JsonObject ParseObject(string json, string what)
        {
            try
            {
                return JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true }) as JsonObject
                    ?? throw new TokenizerFormatException($"{what}: expected a JSON object");
            }
            catch (JsonException e) { throw new TokenizerFormatException($"{what}: not valid JSON: {e.Message}", e); }
        }

        private static TokenizerFormatException Error(string source, string what) => new($"{source}: {what}");

        /// <summary>Real vocabularies stop around 2^18 tokens; 2^24 leaves room and bounds the export's id-indexed arrays.</summary>
        private const int MaxVocabSize = 1 << 24;

        private static int TokenId(JsonNode? node, string source, string what) =>
            node is JsonValue v && v.TryGetValue(out int id) && id >= 0 ? id
                : throw Error(source, $"{what} is {node?.ToJsonString() ?? "missing"}, not a token id (a non-negative integer)");

        private static List<(string, string)> ParseMerges(JsonNode? merges, string source)
        {
            var list = new List<(string, string)>();
            foreach (var m in merges as JsonArray ?? [])
            {
                if (m is JsonArray { Count: 2 } pair && pair[0]?.GetValue<string>() is { } left && pair[1]?.GetValue<string>() is { } right)
                    list.Add((left, right));
                else if (m is JsonValue line && line.TryGetValue(out string? text) && text.Split(' ') is [var l, var r]) list.Add((l, r));
                else throw Error(source, $"merge {m?.ToJsonString()} is neither \"a b\" nor [\"a\", \"b\"]");
            }
            return list;
        }

        /// <summary>The Split regex, whether a ByteLevel stage is present, and whether that stage runs its own GPT-2 regex.</summary>
        private static (string? SplitRegex, bool ByteLevel, bool ByteLevelRegex) ScanPreTokenizer(JsonNode? pre)
        {
            string? regex = null;
            bool byteLevel = false, byteLevelRegex = false;
            foreach (var stage in Stages(pre, "pretokenizers"))
            {
                switch (stage["type"]?.GetValue<string>())
                {
                    case "Split": regex ??= stage["pattern"]?["Regex"]?.GetValue<string>(); break;
                    case "ByteLevel":
                        byteLevel = true;
                        byteLevelRegex = stage["use_regex"]?.GetValue<bool>() ?? true;
                        break;
                }
            }
            return (regex, byteLevel, byteLevelRegex);
        }

        private static string PrependSchemeOf(JsonObject root)
        {
            foreach (var stage in Stages(root["normalizer"], "normalizers"))
                if (stage["type"]?.GetValue<string>() == "Prepend" && stage["prepend"]?.GetValue<string>() == "\u2581") return "always";
            foreach (var stage in Stages(root["pre_tokenizer"], "pretokenizers"))
            {
                if (stage["type"]?.GetValue<string>() != "Metaspace") continue;
                if (stage["prepend_scheme"]?.GetValue<string>() is { } scheme) return scheme;
                return stage["add_prefix_space"]?.GetValue<bool>() ?? true ? "always" : "never";
            }
            return "never";
        }

        private static IEnumerable<JsonObject> Stages(JsonNode? node, string listName)
        {
            if (node is not JsonObject o) yield break;
            if (o["type"]?.GetValue<string>() == "Sequence")
            {
                foreach (var child in o[listName] as JsonArray ?? [])
                    foreach (var s in Stages(child, listName)) yield return s;
            }
            else yield return o;
        }

        private static bool HasType(JsonNode? node, string type) =>
            Stages(node, "decoders").Any(s => s["type"]?.GetValue<string>() == type);

        private static string? TokenContent(JsonNode? node) => node switch
        {
            JsonValue v when v.TryGetValue(out string? s) => s,
            JsonObject o => o["content"]?.GetValue<string>(),
            _ => null,
        };

        /// <summary>
        /// gguf-py SpecialVocab: add_bos/add_eos/add_sep from the post-processor, then the add_*_token flags of
        /// tokenizer_config.json; ids from tokenizer_config.json's *_token looked up among the added tokens, then
        /// config.json's *_token_id; the first value found wins, and ids outside the vocabulary are dropped.
        /// </summary>
        private static (Dictionary<string, int> Ids, List<(string, bool)> Add) SpecialTokens(JsonObject root,
            JsonObject? tokenizerConfig, JsonObject? config, Dictionary<int, (string Content, bool Special)> added, int vocabSize)
        {
            var add = new Dictionary<string, bool>();
            string? bos = TokenContent(tokenizerConfig?["bos_token"]) ?? TokenContent(tokenizerConfig?["cls_token"]);
            string? eos = TokenContent(tokenizerConfig?["eos_token"]) ?? TokenContent(tokenizerConfig?["sep_token"]);
            foreach (var processor in Stages(root["post_processor"], "processors"))
            {
                switch (processor["type"]?.GetValue<string>())
                {
                    case "RobertaProcessing":
                        add["bos"] = add["eos"] = add["sep"] = true;
                        break;
                    case "TemplateProcessing" when processor["single"] is JsonArray single && single.Count > 1:
                        if (single[0]?["SpecialToken"]?["id"]?.GetValue<string>() is { } first)
                        {
                            if (tokenizerConfig is null) bos = first;
                            add["bos"] = first == bos;
                        }
                        if (single[^1]?["SpecialToken"]?["id"]?.GetValue<string>() is { } last)
                        {
                            if (tokenizerConfig is null) eos = last;
                            add["eos"] = last == eos;
                        }
                        break;
                }
            }

            var ids = new Dictionary<string, int>();
            var byContent = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (id, token) in added.OrderBy(a => a.Key)) byContent.TryAdd(token.Content, id);
            void Set(string kind, int? id)
            {
                if (id is { } i && i >= 0 && i < vocabSize) ids.TryAdd(kind, i);
            }
            foreach (var (kind, _) in GgufTokenizerKeys.SpecialIds)
            {
                if (tokenizerConfig?[$"add_{kind}_token"] is JsonValue flag && flag.TryGetValue(out bool value)) add[kind] = value;
                string? content = kind switch { "bos" => bos, "eos" => eos, _ => TokenContent(tokenizerConfig?[kind + "_token"]) };
                if (content != null && byContent.TryGetValue(content, out int id)) Set(kind, id);
            }
            foreach (var (kind, _) in GgufTokenizerKeys.SpecialIds)
                if (config?[kind + "_token_id"] is JsonValue v && v.TryGetValue(out int id)) Set(kind, id);
            return (ids, add.Select(a => (a.Key, a.Value)).ToList());
        }
    }
}
