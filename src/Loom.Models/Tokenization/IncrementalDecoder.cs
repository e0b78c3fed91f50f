namespace Loom.Models.Tokenization;

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

    public string Add(int tokenId)
    {
        _ids.Add(tokenId);
        var ids = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids);
        string prefixText = tokenizer.Decode(ids[_prefixOffset.._readOffset], skipSpecialTokens);
        string windowText = tokenizer.Decode(ids[_prefixOffset..], skipSpecialTokens);
        if (windowText.Length <= prefixText.Length || windowText.EndsWith('\uFFFD')) return "";
        _prefixOffset = _readOffset;
        _readOffset = _ids.Count;
        return windowText.Substring(prefixText.Length);
    }

    public string Flush()
    {
        var ids = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids);
        string prefixText = tokenizer.Decode(ids[_prefixOffset.._readOffset], skipSpecialTokens);
        string windowText = tokenizer.Decode(ids[_prefixOffset..], skipSpecialTokens);
        _prefixOffset = _readOffset = _ids.Count;
        return windowText.Length > prefixText.Length ? windowText.Substring(prefixText.Length) : "";
    }
}
