namespace Loom.Tokenizers;

/// <summary>
/// A slice of text moving through normalization and pre-tokenization, kept as (source, start, length) so that a split
/// costs no string allocation. AtOriginalStart says the slice begins at offset 0 of the user's text, which is what
/// Metaspace's prepend_scheme "first" asks.
/// </summary>
internal readonly record struct TextPiece(string Source, int Start, int Length, bool AtOriginalStart)
{
    public ReadOnlySpan<char> Span => Source.AsSpan(Start, Length);

    public static TextPiece Of(string text, bool atOriginalStart) => new(text, 0, text.Length, atOriginalStart);

    public string AsString() => Start == 0 && Length == Source.Length ? Source : Source.Substring(Start, Length);

    /// <summary>A sub-slice; relative offsets within this piece.</summary>
    public TextPiece Slice(int offset, int length) => new(Source, Start + offset, length, AtOriginalStart && offset == 0);
}
