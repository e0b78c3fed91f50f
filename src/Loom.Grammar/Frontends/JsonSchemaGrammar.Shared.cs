using Loom.Grammar.Ast;

namespace Loom.Grammar.Frontends;

public sealed partial class JsonSchemaGrammar
{
    /// <summary>Characters a JSON string may hold unescaped.</summary>
    internal static readonly CodePointSet UnescapedChars = CodePointSet.Any.Minus(CodePointSet.Of([(0, 0x1F), ('"', '"'), ('\\', '\\')]));

    private static readonly GrammarExpr Hex = Expr.Chars(CodePointSet.Of([('0', '9'), ('a', 'f'), ('A', 'F')]));

    /// <summary>One character of a JSON string: unescaped, or an escape (\u escapes of surrogates excluded).</summary>
    private static GrammarExpr JsonStringChar { get; } = Expr.Or(
        Expr.Chars(UnescapedChars),
        Expr.Seq(Expr.Lit("\\"), Expr.Or(
            Expr.Chars(CodePointSet.Of([('"', '"'), ('\\', '\\'), ('/', '/'), ('b', 'b'), ('f', 'f'), ('n', 'n'), ('r', 'r'), ('t', 't')])),
            Expr.Seq(Expr.Lit("u"), Expr.Or(
                Expr.Seq(Expr.Chars(CodePointSet.Of([('0', '9'), ('a', 'c'), ('A', 'C'), ('e', 'f'), ('E', 'F')])), Hex, Hex, Hex),
                Expr.Seq(Expr.Chars(CodePointSet.Of([('d', 'd'), ('D', 'D')])), Expr.Chars('0', '7'), Hex, Hex))))));

    /// <summary>
    /// A set of decoded characters written inside a JSON string: unescaped where allowed, else as its escape. Used
    /// for patterns, which constrain the decoded string.
    /// </summary>
    internal static GrammarExpr InJsonString(CodePointSet set)
    {
        var options = new List<GrammarExpr>();
        var plain = set.Intersect(UnescapedChars);
        if (!plain.IsEmpty) options.Add(Expr.Chars(plain));
        foreach (var (lo, hi) in set.Minus(UnescapedChars).Ranges)
            for (int c = lo; c <= hi; c++) options.Add(Expr.Lit(EscapeOf(c)));
        return Expr.Or(options);
    }

    private static string EscapeOf(int c) => c switch
    {
        '"' => "\\\"", '\\' => "\\\\", '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", '\b' => "\\b", '\f' => "\\f",
        _ => $"\\u{c:x4}",
    };

    private void DefineShared()
    {
        _grammar.Define("space", SpaceExpr());
        _grammar.Define("string", Expr.Seq(Expr.Lit("\""), Expr.Star(JsonStringChar), Expr.Lit("\"")));
        _grammar.Define("integer-any", IntegerAny());
        _grammar.Define("number-any", Expr.Seq(IntegerAny(), Fraction(), Expr.Optional(Exponent())));
        _grammar.Define("value", Expr.Or(Expr.Ref("object-any"), Expr.Ref("array-any"), Expr.Ref("string"),
            Expr.Ref("number-any"), Expr.Lit("true"), Expr.Lit("false"), Expr.Lit("null")));
        var member = Expr.Seq(Expr.Ref("string"), Space, Expr.Lit(":"), Space, Expr.Ref("value"), Space);
        _grammar.Define("object-any", Expr.Seq(Expr.Lit("{"), Space,
            Expr.Optional(Expr.Seq(member, Expr.Star(Expr.Seq(Expr.Lit(","), Space, member)))), Expr.Lit("}")));
        var item = Expr.Seq(Expr.Ref("value"), Space);
        _grammar.Define("array-any", Expr.Seq(Expr.Lit("["), Space,
            Expr.Optional(Expr.Seq(item, Expr.Star(Expr.Seq(Expr.Lit(","), Space, item)))), Expr.Lit("]")));
    }

    private static GrammarExpr Space => Expr.Ref("space");

    /// <summary>llama.cpp's whitespace: nothing, one space, or newlines and a bounded indent (so it cannot run forever).</summary>
    private GrammarExpr SpaceExpr()
    {
        if (_options.WhitespacePattern is { } pattern) return RegexParser.ParseAnchored(pattern);
        if (!_options.AnyWhitespace) return Expr.Empty;
        return Expr.Optional(Expr.Or(Expr.Lit(" "),
            Expr.Seq(Expr.Repeat(Expr.Lit("\n"), 1, 2), Expr.Repeat(Expr.Chars(CodePointSet.Of([(' ', ' '), ('\t', '\t')])), 0, 20))));
    }

    /// <summary>-?(0|[1-9][0-9]{0,15}): digit runs are bounded so that every value parses as a 64-bit number.</summary>
    private static GrammarExpr IntegerAny() => Expr.Seq(Expr.Optional(Expr.Lit("-")),
        Expr.Or(Expr.Lit("0"), Expr.Seq(Expr.Chars('1', '9'), Expr.Repeat(Expr.Chars('0', '9'), 0, 15))));

    private static GrammarExpr Fraction() => Expr.Optional(Expr.Seq(Expr.Lit("."), Expr.Repeat(Expr.Chars('0', '9'), 1, 15)));

    private static GrammarExpr Exponent() => Expr.Seq(Expr.Chars(CodePointSet.Of([('e', 'e'), ('E', 'E')])),
        Expr.Optional(Expr.Chars(CodePointSet.Of([('+', '+'), ('-', '-')]))), Expr.Repeat(Expr.Chars('0', '9'), 1, 2));
}
