using Loom.Tokenizers;

namespace Loom.Engine.Tests.Output;

/// <summary>
/// A decoder whose token texts are given: token i prints pieces[i]. A null piece models a byte-fallback token that
/// completes no character: its text is held until a later token (or Flush) prints it, joined to what follows.
/// </summary>
internal sealed class ScriptedDecoder(IReadOnlyDictionary<int, string?> pieces, IReadOnlyDictionary<int, string>? heldText = null)
    : IIncrementalDecoder
{
    private string _pending = "";

    public string Add(int tokenId)
    {
        if (!pieces.TryGetValue(tokenId, out var piece)) throw new KeyNotFoundException($"no text for token {tokenId}");
        if (piece is null)
        {
            _pending += heldText?.GetValueOrDefault(tokenId) ?? "";
            return "";
        }
        string text = _pending + piece;
        _pending = "";
        return text;
    }

    public string Flush()
    {
        string text = _pending;
        _pending = "";
        return text;
    }

    /// <summary>Token ids 0..n-1 printing the given pieces.</summary>
    public static ScriptedDecoder Of(params string[] pieces) =>
        new(pieces.Select((p, i) => (i, p)).ToDictionary(x => x.i, x => (string?)x.p));
}
