namespace Loom.Tokenizers;

/// <summary>A tokenizer that encodes and decodes exactly as Hugging Face `tokenizers` does for the same tokenizer.json.</summary>
public interface ITokenizer
{
    int VocabSize { get; }
    string? BosToken { get; }
    string? EosToken { get; }
    int? BosTokenId { get; }
    int? EosTokenId { get; }

    /// <summary>Encode text; with addSpecialTokens the post-processor runs (e.g. BOS prepended).</summary>
    int[] Encode(string text, bool addSpecialTokens = false);

    /// <summary>
    /// Encode with options (a token limit, cancellation); a tokenizer without a cooperative path checks the token once
    /// and encodes the whole text.
    /// </summary>
    int[] Encode(string text, EncodeOptions options)
    {
        options.Cancellation.ThrowIfCancellationRequested();
        return Encode(text, options.AddSpecialTokens);
    }

    string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false);

    /// <summary>Token string for an id (as in the vocab), or null.</summary>
    string? IdToToken(int id);

    int? TokenToId(string token);

    bool IsSpecial(int id);

    /// <summary>A streaming decoder for one sequence: emits text that never holds a broken UTF-8 sequence.</summary>
    IIncrementalDecoder CreateIncrementalDecoder(bool skipSpecialTokens = true);
}

/// <summary>Streaming detokenization of one sequence. The concatenation of all returned text equals the full decode.</summary>
public interface IIncrementalDecoder
{
    /// <summary>Add one token; returns the newly printable text (possibly empty while a character is incomplete).</summary>
    string Add(int tokenId);

    /// <summary>Flush whatever is held back at the end of the sequence.</summary>
    string Flush();
}
