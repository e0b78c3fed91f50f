namespace Loom.Tokenizers;

/// <summary>What happens to the delimiters found by a pattern (tokenizers' SplitDelimiterBehavior).</summary>
public enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>Turns the matches of a pattern inside a piece into output pieces, exactly as NormalizedString::split.</summary>
internal static class PieceSplitter
{
    [ThreadStatic] private static List<Segment>? t_segments;
    [ThreadStatic] private static List<Segment>? t_ranges;

    private record struct Segment(int Start, int End, bool IsMatch);

    /// <summary>Split by a regex: each match is a delimiter (or, with invert, each gap is).</summary>
    public static void SplitByRegex(in TextPiece piece, System.Text.RegularExpressions.Regex regex, SplitBehavior behavior, bool invert, List<TextPiece> output)
    {
        var segments = Begin();
        var span = piece.Span;
        int prev = 0;
        if (span.IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            foreach (var m in regex.EnumerateMatches(span)) AddMatch(segments, ref prev, m.Index, m.Index + m.Length, invert);
        }
        else
        {
            // .NET regexes see UTF-16 code units, so \p{L} misses letters outside the BMP (𝐀, CJK Ext. B) and
            // \p{N}{1,3} counts surrogates. Oniguruma sees code points: match on a stand-in string with one char of
            // the same category per code point, then map offsets back.
            var (shadow, starts) = CodePointShadow.Build(span);
            foreach (var m in regex.EnumerateMatches(shadow))
                AddMatch(segments, ref prev, starts[m.Index], starts[m.Index + m.Length], invert);
        }
        if (prev != piece.Length) segments.Add(new Segment(prev, piece.Length, invert));
        Emit(piece, behavior, output);
    }

    private static void AddMatch(List<Segment> segments, ref int prev, int start, int end, bool invert)
    {
        EncodeCancellation.ThrowIfRequested();   // between match calls: a slow pattern or a long prompt stops promptly
        if (prev != start) segments.Add(new Segment(prev, start, invert));
        segments.Add(new Segment(start, end, !invert));
        prev = end;
    }

    /// <summary>Split where single code points satisfy a predicate (each such code point is one delimiter).</summary>
    public static void SplitByCodePoint(in TextPiece piece, Func<System.Text.Rune, bool> isDelimiter, SplitBehavior behavior, List<TextPiece> output)
    {
        var segments = Begin();
        var span = piece.Span;
        int prev = 0, i = 0;
        while (i < span.Length)
        {
            System.Text.Rune.DecodeFromUtf16(span[i..], out var rune, out int used);
            if (isDelimiter(rune))
            {
                if (prev != i) segments.Add(new Segment(prev, i, false));
                segments.Add(new Segment(i, i + used, true));
                prev = i + used;
            }
            i += used;
        }
        if (prev != span.Length) segments.Add(new Segment(prev, span.Length, false));
        Emit(piece, behavior, output);
    }

    private static List<Segment> Begin()
    {
        var segments = t_segments ??= new List<Segment>();
        segments.Clear();
        return segments;
    }

    private static void Emit(in TextPiece piece, SplitBehavior behavior, List<TextPiece> output)
    {
        var segments = t_segments!;
        var ranges = t_ranges ??= new List<Segment>();
        ranges.Clear();
        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var s in segments) if (!s.IsMatch) ranges.Add(s);
                break;
            case SplitBehavior.Isolated:
                ranges.AddRange(segments);
                break;
            case SplitBehavior.Contiguous:
                MergeForward(segments, ranges, (isMatch, previousMatch) => isMatch == previousMatch);
                break;
            case SplitBehavior.MergedWithPrevious:
                MergeForward(segments, ranges, (isMatch, previousMatch) => isMatch && !previousMatch);
                break;
            case SplitBehavior.MergedWithNext:
                MergeWithNext(segments, ranges);
                break;
        }
        foreach (var r in ranges)
            if (r.End > r.Start) output.Add(piece.Slice(r.Start, r.End - r.Start));
    }

    /// <summary>The fold of tokenizers' split: extend the last range when the rule says so, else start a new one.</summary>
    private static void MergeForward(List<Segment> segments, List<Segment> ranges, Func<bool, bool, bool> extendsLast)
    {
        bool previousMatch = false;
        foreach (var s in segments)
        {
            if (extendsLast(s.IsMatch, previousMatch) && ranges.Count > 0) ranges[^1] = ranges[^1] with { End = s.End };
            else ranges.Add(s);
            previousMatch = s.IsMatch;
        }
    }

    /// <summary>Same fold run from the end: a delimiter joins the piece that follows it.</summary>
    private static void MergeWithNext(List<Segment> segments, List<Segment> ranges)
    {
        bool previousMatch = false;
        for (int i = segments.Count - 1; i >= 0; i--)
        {
            var s = segments[i];
            if (s.IsMatch && !previousMatch && ranges.Count > 0) ranges[^1] = ranges[^1] with { Start = s.Start };
            else ranges.Add(s);
            previousMatch = s.IsMatch;
        }
        ranges.Reverse();
    }
}
