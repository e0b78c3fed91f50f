using Loom.Grammar.Ast;

namespace Loom.Grammar.Frontends;

/// <summary>
/// Free text that never contains a marker string (such as "&lt;tool_call&gt;"), as a regular expression: the grammar of
/// "write anything, but once the marker is written, what follows is constrained". It is the marker's match automaton
/// (states 0..n-1, matched so far) read as loops: from state 1 (the marker's first character just seen) the text
/// either goes back to state 1 through a partial match and the first character again, leaves to state 0 through a
/// partial match and a character that continues neither, or ends on a partial match.
/// </summary>
public static class TextWithoutMarker
{
    /// <param name="marker">Its first character must not occur again in it (true of every call marker Loom knows), so a
    /// mismatch falls back only to state 0 or 1.</param>
    public static GrammarExpr Build(string marker)
    {
        ArgumentException.ThrowIfNullOrEmpty(marker);
        int[] m = [.. marker.EnumerateRunes().Select(r => r.Value)];
        if (m.Skip(1).Contains(m[0]))
            throw new ArgumentException($"the marker's first character occurs again in '{marker}'", nameof(marker));
        var first = CodePointSet.Single(m[0]);
        var backToFirst = new List<GrammarExpr>();
        var leave = new List<GrammarExpr>();
        var endPartial = new List<GrammarExpr>();
        for (int k = 1; k < m.Length; k++)
        {
            var matched = Expr.Seq([.. m[1..k].Select(c => Expr.Chars(CodePointSet.Single(c)))]);
            backToFirst.Add(Expr.Seq(matched, Expr.Chars(first)));
            leave.Add(Expr.Seq(matched, Expr.Chars(CodePointSet.Any.Minus(first.Union(CodePointSet.Single(m[k]))))));
            endPartial.Add(matched);
        }
        var afterFirst = Expr.Seq(Expr.Chars(first), Expr.Star(Expr.Or(backToFirst)));
        var item = Expr.Or(Expr.Chars(CodePointSet.Any.Minus(first)), Expr.Seq(afterFirst, Expr.Or(leave)));
        return Expr.Seq(Expr.Star(item), Expr.Optional(Expr.Seq(afterFirst, Expr.Or(endPartial))));
    }
}
