namespace Loom.Tokenizers;

/// <summary>
/// Streaming detokenization (vLLM's detokenize_incrementally): decode a window that starts a few tokens back, emit
/// what lies past the previously emitted text, and hold back while the window ends in U+FFFD (an incomplete UTF-8
/// character). Decoding a window rather than single tokens keeps SentencePiece's leading-space strip and byte-fallback
/// runs identical to the full decode.
/// </summary>
internal sealed class IncrementalDecoder(HfTokenizer tokenizer, bool skipSpecialTokens) : IIncrementalDecoder
{
    private readonly List<int> _ids = new();
    private int _prefixOffset;   // start of the decode window
    private int _readOffset;     // end of the already emitted part of the window
    private string _prefixText = "";   // decode of [_prefixOffset, _readOffset), recomputed only when they move

    public string Add(int tokenId)
    {
        _ids.Add(tokenId);
        var ids = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids);
        string windowText = tokenizer.Decode(ids[_prefixOffset..], skipSpecialTokens);
        if (windowText.Length <= _prefixText.Length || windowText.EndsWith('\uFFFD')) return "";
        string emitted = windowText.Substring(_prefixText.Length);
        _prefixOffset = _readOffset;
        _readOffset = _ids.Count;
        _prefixText = tokenizer.Decode(ids[_prefixOffset.._readOffset], skipSpecialTokens);
        return emitted;
    }

    public string Flush()
    {
        var ids = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids);
        string windowText = tokenizer.Decode(ids[_prefixOffset..], skipSpecialTokens);
        string rest = windowText.Length > _prefixText.Length ? windowText.Substring(_prefixText.Length) : "";
        _prefixOffset = _readOffset = _ids.Count;
        _prefixText = "";
        return rest;
    }
}
