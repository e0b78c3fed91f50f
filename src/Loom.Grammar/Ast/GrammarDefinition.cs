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

    /// <summary>
    /// Copies every rule of <paramref name="other"/> into this grammar under names that start with
    /// <paramref name="prefix"/> (its references renamed alike), so grammars built apart (one per JSON schema) can be
    /// parts of one; returns a reference to the copied root.
    /// </summary>
    public GrammarExpr Import(GrammarDefinition other, string prefix)
    {
        ArgumentNullException.ThrowIfNull(other);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        foreach (var (name, body) in other.Rules)
        {
            if (_rules.ContainsKey(prefix + name))
                throw new ArgumentException($"the rule '{prefix + name}' exists already; choose another prefix", nameof(prefix));
            _rules[prefix + name] = Renamed(body, prefix);
        }
        return Expr.Ref(prefix + other.RootRule);
    }

    private static GrammarExpr Renamed(GrammarExpr e, string prefix) => e switch
    {
        RuleRefExpr r => new RuleRefExpr(prefix + r.Name),
        SequenceExpr s => new SequenceExpr([.. s.Items.Select(i => Renamed(i, prefix))]),
        ChoiceExpr c => new ChoiceExpr([.. c.Options.Select(o => Renamed(o, prefix))]),
        RepeatExpr rep => rep with { Item = Renamed(rep.Item, prefix) },
        _ => e,
    };

    /// <summary>A grammar whose root is the single expression <paramref name="body"/>.</summary>
    public static GrammarDefinition FromExpr(GrammarExpr body) => new GrammarDefinition().Define("root", body);
}
