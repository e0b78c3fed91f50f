using Loom.Grammar.Ast;

namespace Loom.Grammar.Compile;

/// <summary>Turns a <see cref="GrammarDefinition"/> into a <see cref="CompiledGrammar"/>: NFAs, byte classes, DFAs, checks.</summary>
public static class GrammarCompiler
{
    public const int MaxDfaStates = 300_000;

    public static CompiledGrammar Compile(GrammarDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (!definition.Rules.ContainsKey(definition.RootRule))
            throw new GrammarException($"the root rule '{definition.RootRule}' is not defined", definition.RootRule);
        // Only rules reachable from the root are compiled; the root goes first.
        string[] names = ReachableRules(definition);
        GrammarExpr[] bodies = [.. names.Select(n => definition.Rules[n])];
        bool[] inline = InlineDecisions.Decide(names, bodies);
        var builder = new NfaBuilder(names, bodies, inline);
        var nfas = new Nfa?[names.Length];
        for (int r = 0; r < names.Length; r++) if (!inline[r]) nfas[r] = builder.Build(r);
        var (byteClass, classCount) = ByteClasses.Build(nfas.OfType<Nfa>());
        var dfa = new DfaBuilder(byteClass, classCount, nfas);
        for (int r = 0; r < names.Length; r++) if (nfas[r] is { } nfa) dfa.AddRule(r, nfa);
        var grammar = dfa.Finish(names, root: 0);
        return GrammarAnalysis.CheckAndTrim(grammar);
    }

    private static string[] ReachableRules(GrammarDefinition definition)
    {
        var order = new List<string> { definition.RootRule };
        var seen = new HashSet<string>(StringComparer.Ordinal) { definition.RootRule };
        for (int i = 0; i < order.Count; i++)
        {
            foreach (string callee in RuleRefs.In(definition.Rules[order[i]]))
            {
                if (!definition.Rules.ContainsKey(callee))
                    throw new GrammarException($"rule '{callee}' is used but not defined", callee);
                if (seen.Add(callee)) order.Add(callee);
            }
        }
        return [.. order];
    }
}

internal static class RuleRefs
{
    public static IEnumerable<string> In(GrammarExpr e) => e switch
    {
        RuleRefExpr r => [r.Name],
        SequenceExpr s => s.Items.SelectMany(In),
        ChoiceExpr c => c.Options.SelectMany(In),
        RepeatExpr rep => In(rep.Item),
        _ => [],
    };
}

/// <summary>
/// Which rules to inline into their callers. Inlining makes each rule's DFA see more of its context, so more tokens are
/// decided once per state at compile time; it must not copy permissive rules (unbounded repetitions) many times, since
/// every copy of a permissive state costs a full vocabulary walk when masks are precomputed.
/// </summary>
internal static class InlineDecisions
{
    private const int SmallWeight = 64;

    public static bool[] Decide(string[] names, GrammarExpr[] bodies)
    {
        var ids = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        int[][] callees = [.. bodies.Select(b => RuleRefs.In(b).Select(n => ids[n]).ToArray())];
        var refCount = new int[names.Length];
        foreach (var list in callees) foreach (int c in list) refCount[c]++;
        var inline = new bool[names.Length];
        var weight = new int?[names.Length];
        bool[] recursive = [.. Enumerable.Range(0, names.Length).Select(r => IsRecursive(r, callees))];
        // A rule's weight counts the inlined rules it contains, so that nested inlining cannot grow exponentially.
        int WeightOf(int r) => weight[r] ??= Weight(bodies[r], name => recursive[ids[name]] ? 1 : WeightOf(ids[name]));
        for (int r = 1; r < names.Length; r++)
        {
            if (recursive[r]) continue;
            inline[r] = refCount[r] == 1 || (WeightOf(r) <= SmallWeight && !HasUnboundedRepeat(bodies[r]));
        }
        return inline;
    }

    private static bool IsRecursive(int rule, int[][] callees)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>(callees[rule]);
        while (stack.Count > 0)
        {
            int r = stack.Pop();
            if (r == rule) return true;
            if (seen.Add(r)) foreach (int c in callees[r]) stack.Push(c);
        }
        return false;
    }

    private static int Weight(GrammarExpr e, Func<string, int> refWeight) => e switch
    {
        LiteralExpr l => l.Bytes.Length,
        SequenceExpr s => s.Items.Sum(i => Weight(i, refWeight)),
        ChoiceExpr c => c.Options.Sum(o => Weight(o, refWeight)),
        RepeatExpr r => (int)Math.Min(1_000_000L, (long)Weight(r.Item, refWeight) * Math.Max(1, r.Max == RepeatExpr.Unbounded ? r.Min + 1 : r.Max)),
        RuleRefExpr r => refWeight(r.Name),
        _ => 1,
    };

    private static bool HasUnboundedRepeat(GrammarExpr e) => e switch
    {
        SequenceExpr s => s.Items.Any(HasUnboundedRepeat),
        ChoiceExpr c => c.Options.Any(HasUnboundedRepeat),
        RepeatExpr r => r.Max == RepeatExpr.Unbounded || HasUnboundedRepeat(r.Item),
        _ => false,
    };
}

/// <summary>The coarsest partition of byte values that no byte-range edge of the grammar splits.</summary>
internal static class ByteClasses
{
    public static (byte[] ByteClass, int Count) Build(IEnumerable<Nfa> nfas)
    {
        var boundary = new bool[257];
        boundary[0] = true;
        foreach (var nfa in nfas)
            foreach (var edges in nfa.Bytes)
                foreach (var (lo, hi, _) in edges)
                {
                    boundary[lo] = true;
                    boundary[hi + 1] = true;
                }
        var classOf = new byte[256];
        int cls = -1;
        for (int b = 0; b < 256; b++)
        {
            if (boundary[b]) cls++;
            classOf[b] = (byte)cls;
        }
        return (classOf, cls + 1);
    }
}
