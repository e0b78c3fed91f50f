using System.Text;

namespace Loom.Grammar.Ast;

/// <summary>
/// One node of a grammar rule's body: a context-free expression whose terminals are byte strings and Unicode character
/// classes (matched as their UTF-8 bytes). Every front end (JSON Schema, regex, choice, GBNF) builds these.
/// </summary>
public abstract record GrammarExpr;

/// <summary>Exact bytes (usually UTF-8 text).</summary>
public sealed record LiteralExpr(byte[] Bytes) : GrammarExpr;

/// <summary>One character from a set, matched as its UTF-8 encoding.</summary>
public sealed record CharClassExpr(CodePointSet Set) : GrammarExpr;

/// <summary>One raw byte in [Lo, Hi]; for grammars over arbitrary bytes (GBNF has none, tests use it).</summary>
public sealed record ByteRangeExpr(byte Lo, byte Hi) : GrammarExpr;

public sealed record SequenceExpr(IReadOnlyList<GrammarExpr> Items) : GrammarExpr;

public sealed record ChoiceExpr(IReadOnlyList<GrammarExpr> Options) : GrammarExpr;

/// <summary><paramref name="Item"/> repeated Min..Max times; Max = <see cref="Unbounded"/> for no upper bound.</summary>
public sealed record RepeatExpr(GrammarExpr Item, int Min, int Max) : GrammarExpr
{
    public const int Unbounded = -1;
}

/// <summary>A call of another rule by name (recursion goes through these).</summary>
public sealed record RuleRefExpr(string Name) : GrammarExpr;

/// <summary>Short constructors so that front ends read like the grammars they build.</summary>
public static class Expr
{
    public static GrammarExpr Empty { get; } = new SequenceExpr([]);
    public static GrammarExpr Nothing { get; } = new ChoiceExpr([]);

    public static GrammarExpr Lit(string text) => new LiteralExpr(Encoding.UTF8.GetBytes(text));
    public static GrammarExpr Chars(CodePointSet set) => new CharClassExpr(set);
    public static GrammarExpr Chars(int lo, int hi) => new CharClassExpr(CodePointSet.Range(lo, hi));
    public static GrammarExpr Ref(string name) => new RuleRefExpr(name);

    public static GrammarExpr Seq(params GrammarExpr[] items) => items.Length == 1 ? items[0] : new SequenceExpr(items);
    public static GrammarExpr Seq(IEnumerable<GrammarExpr> items) => Seq([.. items]);
    public static GrammarExpr Or(params GrammarExpr[] options) => options.Length == 1 ? options[0] : new ChoiceExpr(options);
    public static GrammarExpr Or(IEnumerable<GrammarExpr> options) => Or([.. options]);

    public static GrammarExpr Optional(GrammarExpr item) => new RepeatExpr(item, 0, 1);
    public static GrammarExpr Star(GrammarExpr item) => new RepeatExpr(item, 0, RepeatExpr.Unbounded);
    public static GrammarExpr Plus(GrammarExpr item) => new RepeatExpr(item, 1, RepeatExpr.Unbounded);
    public static GrammarExpr Repeat(GrammarExpr item, int min, int max) => new RepeatExpr(item, min, max);
}
