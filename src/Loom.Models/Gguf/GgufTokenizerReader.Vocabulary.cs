using Loom.Tokenizers;

namespace Loom.Models.Gguf;

public static partial class GgufTokenizerReader
{
    /// <summary>tokenizer.ggml.* validated, with llama.cpp's defaults filled in (llama_vocab::impl::load).</summary>
    internal sealed class GgufVocabulary
    {
        public required bool IsSentencePiece { get; init; }
        public required string[] Tokens { get; init; }
        public required GgufTokenType[] Types { get; init; }
        public float[]? Scores { get; init; }
        public List<(string Left, string Right)>? StoredMerges { get; init; }
        public (IReadOnlyList<string> Regexes, bool IgnoreMerges, bool Nfc) Pre { get; init; }
        public PrependScheme PrependScheme { get; init; } = PrependScheme.Never;
        public int? BosId { get; init; }
        public int? EosId { get; init; }
        public int? UnknownId { get; init; }
        public int? PaddingId { get; init; }
        public bool AddBos { get; init; }
        public bool AddEos { get; init; }

        public static GgufVocabulary Read(GgufMetadata m)
        {
            string model = m.RequiredString(GgufTokenizerKeys.Model);
            if (model is not ("gpt2" or "llama"))
                throw Bad(m, GgufTokenizerKeys.Model, $"is \"{model}\"; Loom reads \"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece)");
            bool spm = model == "llama";
            var tokens = m.Array<string>(GgufTokenizerKeys.Tokens) ?? throw Bad(m, GgufTokenizerKeys.Tokens, "is missing");
            if (tokens.Length == 0) throw Bad(m, GgufTokenizerKeys.Tokens, "is empty");
            tokens = [.. tokens.Select((t, id) => t.Length == 0 ? $"[EMPTY_{id}]" : t)]; // llama.cpp's name for an empty token
            CheckUnique(m, tokens);
            var types = ReadTypes(m, tokens.Length);
            var scores = m.Array<float>(GgufTokenizerKeys.Scores);
            if (scores != null && scores.Length != tokens.Length)
                throw Bad(m, GgufTokenizerKeys.Scores, $"holds {scores.Length} scores for {tokens.Length} tokens");
            var merges = ReadMerges(m);
            if (!spm && merges is null) throw Bad(m, GgufTokenizerKeys.Merges, "is missing (a gpt2 tokenizer needs its merges)");

            string preName = m.String(GgufTokenizerKeys.Pre) ?? "default";
            var pre = spm ? ([], false, false) : GgufTokenizerPre.Lookup(preName)
                ?? throw Bad(m, GgufTokenizerKeys.Pre, $"names the pre-tokenizer \"{preName}\", which Loom does not know " +
                    "(known: llama-bpe, llama3, qwen2, gpt-2, default and their aliases)");

            // llama.cpp ignores an id outside the vocabulary (any uint32, e.g. 0xFFFFFFFF for "none") and keeps its default.
            int? Id(string key, int? fallback)
            {
                bool InVocabulary(long? candidate) => candidate >= 0 && candidate < tokens.Length;
                long? id = m.Integer(key);
                if (!InVocabulary(id)) id = fallback;
                return InVocabulary(id) ? (int)id!.Value : null;
            }
            return new GgufVocabulary
            {
                IsSentencePiece = spm,
                Tokens = tokens,
                Types = types,
                Scores = scores,
                StoredMerges = merges,
                Pre = pre,
                PrependScheme = spm ? ReadPrependScheme(m) : PrependScheme.Never,
                BosId = Id(GgufTokenizerKeys.BosId, spm ? 1 : null),
                EosId = Id(GgufTokenizerKeys.EosId, spm ? 2 : null),
                UnknownId = Id(GgufTokenizerKeys.UnknownId, spm ? 0 : null),
                PaddingId = Id(GgufTokenizerKeys.PaddingId, null),
                // llama.cpp: SentencePiece adds BOS by default, byte-level BPE only for the Llama-3 family.
                AddBos = m.Bool(GgufTokenizerKeys.AddBos) ?? (spm || pre.IgnoreMerges),
                AddEos = m.Bool(GgufTokenizerKeys.AddEos) ?? false,
            };
        }

        /// <summary>Loom's own key when present (it can say "first"), else llama.cpp's add_space_prefix (default true).</summary>
        private static PrependScheme ReadPrependScheme(GgufMetadata m)
        {
            string? scheme = m.String(GgufTokenizerKeys.LoomPrependScheme);
            if (scheme is null) return m.Bool(GgufTokenizerKeys.AddSpacePrefix) ?? true ? PrependScheme.Always : PrependScheme.Never;
            return scheme switch
            {
                "first" => PrependScheme.First,
                "always" => PrependScheme.Always,
                "never" => PrependScheme.Never,
                _ => throw Bad(m, GgufTokenizerKeys.LoomPrependScheme, $"is \"{scheme}\"; expected \"first\", \"always\" or \"never\""),
            };
        }

        private static GgufTokenType[] ReadTypes(GgufMetadata m, int count)
        {
            var raw = m.IntArray(GgufTokenizerKeys.TokenType);
            if (raw is null) return Enumerable.Repeat(GgufTokenType.Normal, count).ToArray();
            if (raw.Length != count) throw Bad(m, GgufTokenizerKeys.TokenType, $"holds {raw.Length} types for {count} tokens");
            // llama.cpp reads an unknown type number as "undefined", which tokenizes like a normal token.
            return raw.Select(t => t is >= 1 and <= 6 ? (GgufTokenType)t : GgufTokenType.Normal).ToArray();
        }

        /// <summary>"left right", split at the first space after the first character, as llama.cpp splits it.</summary>
        private static List<(string, string)>? ReadMerges(GgufMetadata m)
        {
            var lines = m.Array<string>(GgufTokenizerKeys.Merges);
            if (lines is null) return null;
            var merges = new List<(string, string)>(lines.Length);
            for (int i = 0; i < lines.Length; i++)
            {
                int space = lines[i].Length > 1 ? lines[i].IndexOf(' ', 1) : -1;
                if (space < 0) throw Bad(m, GgufTokenizerKeys.Merges, $"entry {i} \"{lines[i]}\" is not two tokens separated by a space");
                merges.Add((lines[i][..space], lines[i][(space + 1)..]));
            }
            return merges;
        }

        private static void CheckUnique(GgufMetadata m, string[] tokens)
        {
            var seen = new HashSet<string>(tokens.Length, StringComparer.Ordinal);
            for (int id = 0; id < tokens.Length; id++)
                if (!seen.Add(tokens[id])) throw Bad(m, GgufTokenizerKeys.Tokens, $"holds \"{tokens[id]}\" twice (again at id {id})");
        }

        private static ModelLoadException Bad(GgufMetadata m, string key, string what) => new($"{m.File}: GGUF metadata '{key}' {what}.");
    }

    /// <summary>
    /// Merges for a SentencePiece vocabulary that stores none, as transformers' SentencePieceExtractor (generate_merges)
    /// builds them for Llama: every split of a normal token into two vocabulary pieces is a merge, ranked by that
    /// token's score (highest first; by id when there are no scores), ties by longer left piece, then longer right
    /// piece, then piece ids.
    /// </summary>
    internal static class SentencePieceMerges
    {
        public static List<(string Left, string Right)> FromScores(GgufVocabulary vocab)
        {
            var ids = new Dictionary<string, int>(vocab.Tokens.Length, StringComparer.Ordinal);
            for (int id = 0; id < vocab.Tokens.Length; id++) ids[vocab.Tokens[id]] = id;
            var candidates = new List<(string Left, string Right, float Rank, int LeftRunes, int RightRunes)>();
            var local = new List<(string Left, string Right, int LeftId, int RightId)>();
            for (int id = 0; id < vocab.Tokens.Length; id++)
            {
                if (vocab.Types[id] != GgufTokenType.Normal) continue;
                string piece = vocab.Tokens[id];
                local.Clear();
                for (int cut = 1; cut < piece.Length; cut++)
                {
                    if (char.IsLowSurrogate(piece[cut])) continue; // split between code points only
                    string left = piece[..cut], right = piece[cut..];
                    if (ids.TryGetValue(left, out int l) && ids.TryGetValue(right, out int r)) local.Add((left, right, l, r));
                }
                local.Sort((a, b) => a.LeftId != b.LeftId ? a.LeftId.CompareTo(b.LeftId) : a.RightId.CompareTo(b.RightId));
                float rank = vocab.Scores is { } scores ? -scores[id] : id; // ascending rank = descending score
                foreach (var (left, right, _, _) in local)
                    candidates.Add((left, right, rank, Runes(left), Runes(right)));
            }
            // Python's sorted(..., key=(score, len(l), len(r)), reverse=True) is stable; so is OrderBy.
            var ordered = vocab.Scores is null
                ? candidates.OrderBy(c => c.Rank).ThenBy(c => c.LeftRunes).ThenBy(c => c.RightRunes)
                : candidates.OrderBy(c => c.Rank).ThenByDescending(c => c.LeftRunes).ThenByDescending(c => c.RightRunes);
            return ordered.Select(c => (c.Left, c.Right)).ToList();
        }

        private static int Runes(string s)
        {
            int n = 0;
            foreach (var _ in s.EnumerateRunes()) n++;
            return n;
        }
    }
}
