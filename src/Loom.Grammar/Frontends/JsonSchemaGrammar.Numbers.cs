using System.Text.Json;
using Loom.Grammar.Ast;

namespace Loom.Grammar.Frontends;

public sealed partial class JsonSchemaGrammar
{
    private GrammarExpr IntegerExpr(JsonElement schema, string path)
    {
        var (lo, hi) = IntegerBounds(schema, path);
        if (lo == null && hi == null) return Expr.Ref("integer-any");
        if (lo > hi) return Expr.Nothing;
        return DecimalRange.Integers(lo ?? -999_999_999_999_999L, hi ?? 9_999_999_999_999_999L);
    }

    /// <summary>
    /// Numbers with bounds, supported when the bounds are integers: the integers in range, plus k.f with a non-zero
    /// fraction where every such value is in range whatever f is. With integer bounds M (minimum or exclusiveMinimum)
    /// and X (maximum or exclusiveMaximum), k + f lies in (k, k + 1), so k in [M, X - 1] is in range either way.
    /// </summary>
    private GrammarExpr NumberExpr(JsonElement schema, string path)
    {
        var (lo, hi) = IntegerBounds(schema, path);
        if (lo == null && hi == null) return Expr.Ref("number-any");
        const long Far = 999_999_999_999_999L;
        long l = lo ?? -Far, h = hi ?? Far;
        long m = RawBound(schema, "minimum", "exclusiveMinimum", path, Math.Max) ?? -Far;
        long x = RawBound(schema, "maximum", "exclusiveMaximum", path, Math.Min) ?? Far;
        // Fraction digits end in a non-zero digit, so k.f is never equal to k.
        var fraction = Expr.Seq(Expr.Lit("."), Expr.Repeat(Expr.Chars('0', '9'), 0, 14), Expr.Chars('1', '9'));
        var options = new List<GrammarExpr>();
        if (l <= h) options.Add(DecimalRange.Integers(l, h));
        long pLo = Math.Max(m, 0), pHi = x - 1;
        if (pLo <= pHi) options.Add(Expr.Seq(DecimalRange.NonNegative(pLo, pHi), fraction));
        long nLo = Math.Max(0, -x), nHi = -m - 1;
        if (nLo <= nHi) options.Add(Expr.Seq(Expr.Lit("-"), DecimalRange.NonNegative(nLo, nHi), fraction));
        return options.Count == 0 ? Expr.Nothing : Expr.Or(options);
    }

    /// <summary>The tighter of an inclusive and an exclusive bound's values (as written), null if neither.</summary>
    private static long? RawBound(JsonElement schema, string inclusive, string exclusive, string path, Func<long, long, long> tighter)
    {
        long? a = Bound(schema, inclusive, path), b = Bound(schema, exclusive, path);
        return a is { } va && b is { } vb ? tighter(va, vb) : a ?? b;
    }

    /// <summary>Inclusive integer bounds from minimum/maximum/exclusive*, null where unbounded.</summary>
    private static (long? Lo, long? Hi) IntegerBounds(JsonElement schema, string path)
    {
        long? lo = null, hi = null;
        if (Bound(schema, "minimum", path) is { } min) lo = min;
        if (Bound(schema, "exclusiveMinimum", path) is { } emin) lo = Math.Max(lo ?? long.MinValue, emin + 1);
        if (Bound(schema, "maximum", path) is { } max) hi = max;
        if (Bound(schema, "exclusiveMaximum", path) is { } emax) hi = Math.Min(hi ?? long.MaxValue, emax - 1);
        return (lo, hi);
    }

    private static long? Bound(JsonElement schema, string keyword, string path)
    {
        if (!schema.TryGetProperty(keyword, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDecimal(out decimal d) || d != decimal.Truncate(d))
            throw new GrammarException($"{path}: '{keyword}' is supported only with an integer value", keyword);
        if (Math.Abs(d) > 1_000_000_000_000_000m) throw new GrammarException($"{path}: '{keyword}' is too large", keyword);
        return (long)d;
    }
}

/// <summary>Grammars for decimal integers within bounds (no leading zeros, no "-0").</summary>
internal static class DecimalRange
{
    public static GrammarExpr Integers(long lo, long hi)
    {
        var options = new List<GrammarExpr>();
        if (lo < 0) options.Add(Expr.Seq(Expr.Lit("-"), NonNegative(Math.Max(1, hi >= 0 ? 1 : -hi), -lo)));
        if (hi >= 0) options.Add(NonNegative(Math.Max(0, lo), hi));
        return Expr.Or(options);
    }

    public static GrammarExpr NonNegative(long lo, long hi)
    {
        var options = new List<GrammarExpr>();
        for (int len = Digits(lo); len <= Digits(hi); len++)
        {
            long from = Math.Max(lo, len == 1 ? 0 : Pow10(len - 1)), to = Math.Min(hi, Pow10(len) - 1);
            if (from <= to) options.Add(SameLength(from.ToString(), to.ToString()));
        }
        return Expr.Or(options);
    }

    /// <summary>Strings of one length between x and y inclusive, by leading digit.</summary>
    private static GrammarExpr SameLength(string x, string y)
    {
        if (x.Length == 1) return Expr.Chars(x[0], y[0]);
        if (x[0] == y[0]) return Expr.Seq(Expr.Lit(x[..1]), SameLength(x[1..], y[1..]));
        int rest = x.Length - 1;
        var options = new List<GrammarExpr>
        {
            Expr.Seq(Expr.Lit(x[..1]), SameLength(x[1..], new string('9', rest))),
        };
        if (y[0] - x[0] > 1) options.Add(Expr.Seq(Expr.Chars(x[0] + 1, y[0] - 1), Expr.Repeat(Expr.Chars('0', '9'), rest, rest)));
        options.Add(Expr.Seq(Expr.Lit(y[..1]), SameLength(new string('0', rest), y[1..])));
        return Expr.Or(options);
    }

    private static int Digits(long v) => v.ToString().Length;

    private static long Pow10(int n)
    {
        long p = 1;
        for (int i = 0; i < n; i++) p *= 10;
        return p;
    }
}
