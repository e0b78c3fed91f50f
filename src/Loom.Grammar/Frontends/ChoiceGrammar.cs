using Loom.Grammar.Ast;

namespace Loom.Grammar.Frontends;

/// <summary>vLLM's guided choice: the output is exactly one of the given strings.</summary>
public static class ChoiceGrammar
{
    public static GrammarDefinition FromChoices(IReadOnlyList<string> choices)
    {
        ArgumentNullException.ThrowIfNull(choices);
        if (choices.Count == 0) throw new GrammarException("choice needs at least one string", "choice");
        if (choices.Any(string.IsNullOrEmpty)) throw new GrammarException("choice strings must be non-empty", "choice");
        return GrammarDefinition.FromExpr(Expr.Or(choices.Distinct().Select(Expr.Lit)));
    }
}
