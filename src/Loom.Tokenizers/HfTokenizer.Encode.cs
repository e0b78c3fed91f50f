using System.Buffers;
using System.Text;

namespace Loom.Tokenizers;

public sealed partial class HfTokenizer
{
    /// <summary>
    /// Encode, but stop soon after the ids pass <paramref name="maxTokens"/> (a word at a time): a prompt that cannot fit
    /// the context costs at most its first words, not its whole encoding. Past the limit the result is a prefix.
    /// </summary>
    private int[] Encode(string text, bool addSpecialTokens, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfNegative(maxTokens);
        var ids = new List<int>(Math.Min(text.Length / 3, maxTokens) + 4);
        EncodeInto(text, ids, maxTokens);
        if (ids.Count > maxTokens) return ids.ToArray();
        return addSpecialTokens && _postProcessor != null ? _postProcessor.Process(ids) : ids.ToArray();
    }

    private void EncodeInto(string text, List<int> ids, int limit = int.MaxValue)
    {
        var rawSplits = new List<(TextPiece Piece, int Id)>();
        _added.SplitRaw(TextPiece.Of(text, atOriginalStart: true), rawSplits);
        List<(TextPiece Piece, int Id)>? normalizedSplits = null;
        List<TextPiece>? words = null;
        foreach (var (piece, id) in rawSplits)
        {
            if (ids.Count > limit) return;
            if (id >= 0)
            {
                ids.Add(id);
                continue;
            }
            var normalized = _normalizer is null ? piece : TextPiece.Of(_normalizer.Normalize(piece.AsString()), piece.AtOriginalStart);
            if (!_added.HasNormalizedTokens)
            {
                EncodeWords(normalized, ids, ref words, limit);
                continue;
            }
            (normalizedSplits ??= new()).Clear();
            _added.SplitNormalized(normalized, normalizedSplits);
            foreach (var (inner, innerId) in normalizedSplits)
            {
                if (innerId >= 0) ids.Add(innerId);
                else EncodeWords(inner, ids, ref words, limit);
            }
        }
    }

    private void EncodeWords(in TextPiece piece, List<int> ids, ref List<TextPiece>? words, int limit)
    {
        if (piece.Length == 0) return;
        if (_preTokenizer is null)
        {
            TokenizeWord(piece.Span, ids);
            return;
        }
        (words ??= new()).Clear();
        _preTokenizer.Split(piece, words);
        foreach (var word in words)
        {
            if (ids.Count > limit) return;
            TokenizeWord(word.Span, ids);
        }
    }

    /// <summary>Feeds one word to the model, first writing its UTF-8 bytes in the byte-level alphabet when needed.</summary>
    private void TokenizeWord(ReadOnlySpan<char> word, List<int> ids)
    {
        if (_cutBeforeSpaceRuns)
        {
            int start = 0;
            for (int i = 1; i < word.Length; i++)
            {
                if (word[i] != SentencePieceSpace || word[i - 1] == SentencePieceSpace) continue;
                _model.Tokenize(word[start..i], ids);
                start = i;
            }
            _model.Tokenize(word[start..], ids);
            return;
        }
        if (!_mapBytesBeforeModel)
        {
            _model.Tokenize(word, ids);
            return;
        }
        int maxBytes = Encoding.UTF8.GetMaxByteCount(word.Length);
        byte[]? rentedBytes = null;
        char[]? rentedChars = null;
        Span<byte> bytes = maxBytes <= 512 ? stackalloc byte[maxBytes] : (rentedBytes = ArrayPool<byte>.Shared.Rent(maxBytes));
        Span<char> chars = maxBytes <= 512 ? stackalloc char[maxBytes] : (rentedChars = ArrayPool<char>.Shared.Rent(maxBytes));
        int n = Encoding.UTF8.GetBytes(word, bytes);
        var alphabet = ByteLevelAlphabet.ByteToChar;
        for (int i = 0; i < n; i++) chars[i] = alphabet[bytes[i]];
        _model.Tokenize(chars[..n], ids);
        if (rentedBytes != null) ArrayPool<byte>.Shared.Return(rentedBytes);
        if (rentedChars != null) ArrayPool<char>.Shared.Return(rentedChars);
    }
}
