using System.Collections.Concurrent;

namespace Loom.Tokenizers;

/// <summary>
/// The tokenizers BPE model: a word is split into characters (falling back to &lt;0xXX&gt; byte tokens or unk),
/// then the lowest-ranked adjacent merge is applied until none applies. Results are cached per word.
/// </summary>
internal sealed partial class BpeModel
{
    private const int MaxCachedWords = 10_000;   // as tokenizers' DEFAULT_CACHE_CAPACITY
    private const int MaxCachedWordLength = 256;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    private readonly string?[] _idToToken;                      // [max id + 1]
    private readonly Dictionary<long, int> _mergeRanks;          // (left id << 32 | right id) -> rank
    private readonly int[] _mergeResults;                        // [rank] -> merged id
    private readonly int[] _byteFallbackIds;                     // [256] id of "<0xXX>", or -1
    private readonly int? _unkId;
    private readonly bool _byteFallback, _fuseUnk, _ignoreMerges;
    private readonly string? _continuingSubwordPrefix, _endOfWordSuffix;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
    private int _cachedWords;   // ConcurrentDictionary.Count takes every lock, so the bound is counted here

    public BpeModel(BpeDefinition definition)
    {
        // A copy, so that the tables built here cannot drift from a dictionary the caller changes later.
        var vocab = new Dictionary<string, int>(definition.Vocab, StringComparer.Ordinal);
        var merges = definition.Merges;
        string? continuingSubwordPrefix = definition.ContinuingSubwordPrefix;
        TokenizerFormatException Error(string message) => new($"{definition.Origin}: {message}");
        _vocab = vocab;
        _vocabBySpan = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        _idToToken = new string?[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab)
        {
            if (id < 0) throw Error($"vocab entry \"{token}\" has negative id {id}");
            _idToToken[id] = token;
        }

        _mergeRanks = new Dictionary<long, int>(merges.Count);
        _mergeResults = new int[merges.Count];
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocab.TryGetValue(left, out int a)) throw Error($"merge {rank} (\"{left} {right}\"): \"{left}\" is not in the vocab");
            if (!vocab.TryGetValue(right, out int b)) throw Error($"merge {rank} (\"{left} {right}\"): \"{right}\" is not in the vocab");
            string merged = left + (continuingSubwordPrefix != null && right.StartsWith(continuingSubwordPrefix, StringComparison.Ordinal)
                ? right[continuingSubwordPrefix.Length..] : right);
            if (!vocab.TryGetValue(merged, out int m)) throw Error($"merge {rank} (\"{left} {right}\"): \"{merged}\" is not in the vocab");
            _mergeRanks[Key(a, b)] = rank;   // a repeated pair keeps its last rank, as tokenizers' HashMap collect does
            _mergeResults[rank] = m;
        }

        _byteFallbackIds = new int[256];
        for (int b = 0; b < 256; b++) _byteFallbackIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        if (definition.UnkToken is { } unkToken)
        {
            if (!vocab.TryGetValue(unkToken, out int unk)) throw Error($"unk_token \"{unkToken}\" is not in the vocab");
            _unkId = unk;
        }
        _byteFallback = definition.ByteFallback;
        _fuseUnk = definition.FuseUnk;
        _ignoreMerges = definition.IgnoreMerges;
        _continuingSubwordPrefix = continuingSubwordPrefix;
        _endOfWordSuffix = definition.EndOfWordSuffix;
    }

    public int VocabSize => _idToToken.Length;

    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    /// <summary>
    /// True when every vocab token is a run of `marker` followed by text without it (SentencePiece vocabularies with
    /// marker ▁). Then no merge can join a non-marker character to a following marker, so a word may be cut before
    /// each run of markers and tokenized piece by piece (and cached) with the same result.
    /// </summary>
    public bool MarkerOnlyLeads(char marker) =>
        _continuingSubwordPrefix is null && _endOfWordSuffix is null && _vocab.ContainsKey(marker.ToString()) &&
        _vocab.Keys.All(t => t.AsSpan().TrimStart(marker).IndexOf(marker) < 0);

    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    /// <summary>Appends the ids of one pre-tokenized word.</summary>
    public void Tokenize(ReadOnlySpan<char> word, List<int> output)
    {
        if (word.IsEmpty) return;
        EncodeCancellation.ThrowIfRequested();
        if (_ignoreMerges && _vocabBySpan.TryGetValue(word, out int whole))
        {
            output.Add(whole);
            return;
        }
        if (_cacheBySpan.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        var ids = MergeWord(word);
        if (word.Length < MaxCachedWordLength && Volatile.Read(ref _cachedWords) < MaxCachedWords && _cacheBySpan.TryAdd(word, ids))
            Interlocked.Increment(ref _cachedWords);
        output.AddRange(ids);
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;
}
