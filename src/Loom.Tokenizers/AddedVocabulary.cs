namespace Loom.Tokenizers;

/// <summary>An entry of tokenizer.json "added_tokens".</summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord, bool LStrip, bool RStrip, bool Normalized);

/// <summary>
/// Added and special tokens, found in the text before the model runs (tokenizers' AddedVocabulary): tokens with
/// normalized=false are matched on the raw text, the others on the normalized text. Matching is leftmost-longest.
/// </summary>
internal sealed class AddedVocabulary
{
    private readonly Dictionary<int, AddedToken> _byId = new();
    private readonly Dictionary<string, AddedToken> _byContent = new(StringComparer.Ordinal);
    private readonly TokenMatcher _rawMatcher;
    private readonly TokenMatcher _normalizedMatcher;

    public AddedVocabulary(IReadOnlyList<AddedToken> tokens, Normalizer? normalizer)
    {
        foreach (var t in tokens)
        {
            _byId[t.Id] = t;
            _byContent[t.Content] = t;
        }
        _rawMatcher = new TokenMatcher(tokens.Where(t => !t.Normalized).Select(t => (t.Content, t)));
        _normalizedMatcher = new TokenMatcher(tokens.Where(t => t.Normalized)
            .Select(t => (normalizer?.Normalize(t.Content) ?? t.Content, t)));
    }

    public IReadOnlyCollection<AddedToken> Tokens => _byId.Values;

    public bool HasNormalizedTokens => !_normalizedMatcher.IsEmpty;

    public AddedToken? ById(int id) => _byId.GetValueOrDefault(id);

    public AddedToken? ByContent(string content) => _byContent.GetValueOrDefault(content);

    public bool IsSpecial(int id) => _byId.TryGetValue(id, out var t) && t.Special;

    /// <summary>Splits raw text around tokens with normalized=false: text pieces get Id -1.</summary>
    public void SplitRaw(in TextPiece piece, List<(TextPiece Piece, int Id)> output) => Split(piece, _rawMatcher, output);

    /// <summary>Splits normalized text around tokens with normalized=true.</summary>
    public void SplitNormalized(in TextPiece piece, List<(TextPiece Piece, int Id)> output) => Split(piece, _normalizedMatcher, output);

    private static void Split(in TextPiece piece, TokenMatcher matcher, List<(TextPiece, int)> output)
    {
        var text = piece.Span;
        int emitted = 0, searchFrom = 0;
        while (matcher.FindNext(text, searchFrom, out int start, out var token))
        {
            int stop = start + token.Key.Length;
            searchFrom = stop;
            var t = token.Value;
            if (t.SingleWord && !IsSingleWord(text, start, stop)) continue;
            if (t.LStrip) start = Math.Max(StartOfTrailingWhitespace(text[..start]), emitted);
            if (t.RStrip) stop += LengthOfLeadingWhitespace(text[stop..]);
            if (emitted < start) output.Add((piece.Slice(emitted, start - emitted), -1));
            output.Add((piece.Slice(start, stop - start), t.Id));
            emitted = stop;
            searchFrom = stop;
        }
        if (emitted < text.Length) output.Add((piece.Slice(emitted, text.Length - emitted), -1));
    }

    private static bool IsSingleWord(ReadOnlySpan<char> text, int start, int stop) =>
        (start == 0 || !IsWordChar(text[start - 1])) && (stop == text.Length || !IsWordChar(text[stop]));

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    private static int StartOfTrailingWhitespace(ReadOnlySpan<char> text)
    {
        int i = text.Length;
        while (i > 0 && char.IsWhiteSpace(text[i - 1])) i--;
        return i;
    }

    private static int LengthOfLeadingWhitespace(ReadOnlySpan<char> text)
    {
        int i = 0;
        while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
        return i;
    }

    /// <summary>Leftmost-longest search over a handful of literal strings, indexed by their first character.</summary>
    private sealed class TokenMatcher
    {
        private readonly Dictionary<char, KeyValuePair<string, AddedToken>[]> _byFirstChar;   // longest first
        private readonly System.Buffers.SearchValues<char> _firstChars;

        public TokenMatcher(IEnumerable<(string Pattern, AddedToken Token)> tokens)
        {
            _byFirstChar = tokens.Where(t => t.Pattern.Length > 0)
                .GroupBy(t => t.Pattern[0])
                .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Pattern.Length)
                    .Select(t => KeyValuePair.Create(t.Pattern, t.Token)).ToArray());
            _firstChars = System.Buffers.SearchValues.Create(_byFirstChar.Keys.ToArray());
        }

        public bool IsEmpty => _byFirstChar.Count == 0;

        public bool FindNext(ReadOnlySpan<char> text, int from, out int start, out KeyValuePair<string, AddedToken> token)
        {
            while (!IsEmpty && from < text.Length)
            {
                int offset = text[from..].IndexOfAny(_firstChars);
                if (offset < 0) break;
                start = from + offset;
                foreach (var candidate in _byFirstChar[text[start]])
                {
                    if (!text[start..].StartsWith(candidate.Key, StringComparison.Ordinal)) continue;
                    token = candidate;
                    return true;
                }
                from = start + 1;
            }
            start = -1;
            token = default;
            return false;
        }
    }
}
