namespace Loom.Grammar.Ast;

/// <summary>Named rules and the rule a whole output must match; what every front end produces.</summary>
public sealed class GrammarDefinition
{
    private readonly Dictionary<string, GrammarExpr> _rules = new(StringComparer.Ordinal);

    public GrammarDefinition(string rootRule = "root") => RootRule = rootRule;

    public string RootRule { get; }
    public IReadOnlyDictionary<string, GrammarExpr> Rules => _rules;

    /// <summary>Adds or replaces a rule.</summary>
    public GrammarDefinition Define(string name, GrammarExpr body)
    {
        _rules[name] = body;
        return this;
    }

    /// <summary>A rule name not yet used, starting from <paramref name="stem"/>.</summary>
    public string FreshName(string stem)
    {
        if (!_rules.ContainsKey(stem)) return stem;
        for (int i = 1; ; i++)
            if (!_rules.ContainsKey($"{stem}-{i}")) return $"{stem}-{i}";
    }

    /// <summary>A grammar whose root is the single expression <paramref name="body"/>.</summary>
    public static GrammarDefinition FromExpr(GrammarExpr body) => new GrammarDefinition().Define("root", body);
}
