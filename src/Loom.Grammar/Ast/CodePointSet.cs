namespace Loom.Grammar.Ast;

/// <summary>An immutable set of Unicode scalar values as sorted, disjoint, non-adjacent inclusive ranges.</summary>
public sealed class CodePointSet
{
    public const int MaxCodePoint = 0x10FFFF;
    private readonly (int Lo, int Hi)[] _ranges;

    private CodePointSet((int Lo, int Hi)[] normalized) => _ranges = normalized;

    public IReadOnlyList<(int Lo, int Hi)> Ranges => _ranges;
    public bool IsEmpty => _ranges.Length == 0;

    public static CodePointSet Of(IEnumerable<(int Lo, int Hi)> ranges) => new(Normalize(ranges));
    public static CodePointSet Single(int codePoint) => Of([(codePoint, codePoint)]);
    public static CodePointSet Range(int lo, int hi) => Of([(lo, hi)]);
    /// <summary>Every scalar value (surrogates excluded: they never appear in UTF-8).</summary>
    public static CodePointSet Any { get; } = Of([(0, 0xD7FF), (0xE000, MaxCodePoint)]);

    public bool Contains(int cp)
    {
        foreach (var (lo, hi) in _ranges) if (cp >= lo && cp <= hi) return true;
        return false;
    }

    public CodePointSet Union(CodePointSet other) => Of(_ranges.Concat(other._ranges));

    public CodePointSet Complement()
    {
        var result = new List<(int, int)>();
        int next = 0;
        foreach (var (lo, hi) in _ranges)
        {
            if (lo > next) result.Add((next, lo - 1));
            next = hi + 1;
        }
        if (next <= MaxCodePoint) result.Add((next, MaxCodePoint));
        return Of(result).Intersect(Any);
    }

    public CodePointSet Intersect(CodePointSet other) => Of(_ranges.SelectMany(a => other._ranges
        .Where(b => b.Lo <= a.Hi && a.Lo <= b.Hi).Select(b => (Math.Max(a.Lo, b.Lo), Math.Min(a.Hi, b.Hi)))));

    public CodePointSet Minus(CodePointSet other) => Intersect(other.Complement());

    private static (int Lo, int Hi)[] Normalize(IEnumerable<(int Lo, int Hi)> ranges)
    {
        var sorted = ranges.Where(r => r.Lo <= r.Hi).Select(r => (Lo: Math.Max(0, r.Lo), Hi: Math.Min(MaxCodePoint, r.Hi)))
            .OrderBy(r => r.Lo).ToList();
        var merged = new List<(int Lo, int Hi)>();
        foreach (var r in sorted)
        {
            if (merged.Count > 0 && r.Lo <= merged[^1].Hi + 1)
                merged[^1] = (merged[^1].Lo, Math.Max(merged[^1].Hi, r.Hi));
            else merged.Add(r);
        }
        return [.. merged];
    }
}
