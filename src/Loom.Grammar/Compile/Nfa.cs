using Loom.Grammar.Ast;

namespace Loom.Grammar.Compile;

/// <summary>
/// Thompson NFA of one rule: epsilon edges, byte-range edges and call edges (call rule, continue at target). Rules the
/// <see cref="NfaBuilder"/> inlines become plain fragments; the rest stay calls, which the pushdown matcher follows.
/// </summary>
internal sealed class Nfa
{
    public readonly List<List<int>> Epsilon = [];
    public readonly List<List<(byte Lo, byte Hi, int To)>> Bytes = [];
    public readonly List<List<(int Rule, int To)>> Calls = [];

    public int Start { get; set; }
    public int Final { get; set; }
    public int Count => Epsilon.Count;

    public int AddState()
    {
        Epsilon.Add([]);
        Bytes.Add([]);
        Calls.Add([]);
        return Epsilon.Count - 1;
    }
}

/// <summary>Builds the NFA of each rule, inlining small or singly-used non-recursive rules.</summary>
internal sealed class NfaBuilder
{
    /// <summary>More NFA states than this in one rule means the grammar is too large (huge repetition counts).</summary>
    public const int MaxStatesPerRule = 400_000;

    private readonly IReadOnlyDictionary<string, int> _ruleIds;
    private readonly IReadOnlyList<GrammarExpr> _bodies;
    private readonly bool[] _inline;
    private readonly string[] _names;
    private Nfa _nfa = new();
    private int _depth;

    public NfaBuilder(string[] names, IReadOnlyList<GrammarExpr> bodies, bool[] inline)
    {
        _names = names;
        _bodies = bodies;
        _inline = inline;
        _ruleIds = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
    }

    public Nfa Build(int rule)
    {
        _nfa = new Nfa();
        _nfa.Start = _nfa.AddState();
        _nfa.Final = Emit(_bodies[rule], _nfa.Start);
        return _nfa;
    }

    /// <summary>Adds <paramref name="e"/> starting at <paramref name="from"/>; returns the state where it ends.</summary>
    private int Emit(GrammarExpr e, int from)
    {
        if (_nfa.Count > MaxStatesPerRule)
            throw new GrammarException($"the grammar is too large (over {MaxStatesPerRule} automaton states in one rule): lower repetition bounds");
        return e switch
        {
            LiteralExpr lit => EmitLiteral(lit.Bytes, from),
            ByteRangeExpr br => EmitByteRange(br.Lo, br.Hi, from),
            CharClassExpr cc => EmitCharClass(cc.Set, from),
            SequenceExpr seq => seq.Items.Aggregate(from, (at, item) => Emit(item, at)),
            ChoiceExpr ch => EmitChoice(ch, from),
            RepeatExpr rep => EmitRepeat(rep, from),
            RuleRefExpr r => EmitRef(r, from),
            _ => throw new GrammarException($"unknown grammar node {e.GetType().Name}"),
        };
    }

    private int EmitLiteral(byte[] bytes, int from)
    {
        int at = from;
        foreach (byte b in bytes) at = EmitByteRange(b, b, at);
        return at;
    }

    private int EmitByteRange(byte lo, byte hi, int from)
    {
        int to = _nfa.AddState();
        _nfa.Bytes[from].Add((lo, hi, to));
        return to;
    }

    private int EmitCharClass(CodePointSet set, int from)
    {
        int end = _nfa.AddState();
        foreach (var (lo, hi) in set.Ranges)
        {
            foreach (var seq in Utf8Ranges.Sequences(lo, hi))
            {
                int at = from;
                for (int i = 0; i < seq.Length; i++)
                {
                    int to = i == seq.Length - 1 ? end : _nfa.AddState();
                    _nfa.Bytes[at].Add((seq[i].Lo, seq[i].Hi, to));
                    at = to;
                }
            }
        }
        return end;
    }

    private int EmitChoice(ChoiceExpr ch, int from)
    {
        int end = _nfa.AddState();
        foreach (var option in ch.Options)
        {
            int start = _nfa.AddState();
            _nfa.Epsilon[from].Add(start);
            _nfa.Epsilon[Emit(option, start)].Add(end);
        }
        return end;
    }

    private int EmitRepeat(RepeatExpr rep, int from)
    {
        if (rep.Min < 0 || (rep.Max != RepeatExpr.Unbounded && rep.Max < rep.Min))
            throw new GrammarException($"invalid repetition bounds {{{rep.Min},{rep.Max}}}");
        int at = from;
        for (int i = 0; i < rep.Min; i++) at = EmitFresh(rep.Item, at);
        if (rep.Max == RepeatExpr.Unbounded)
        {
            // A loop: at -> body -> at, entered and left by epsilon.
            int loop = _nfa.AddState();
            _nfa.Epsilon[at].Add(loop);
            int bodyEnd = EmitFresh(rep.Item, loop);
            _nfa.Epsilon[bodyEnd].Add(loop);
            return loop;
        }
        int end = _nfa.AddState();
        _nfa.Epsilon[at].Add(end);
        for (int i = rep.Min; i < rep.Max; i++)
        {
            at = EmitFresh(rep.Item, at);
            _nfa.Epsilon[at].Add(end);
        }
        return end;
    }

    /// <summary>Emits into a fresh entry state so that loops and optional copies never share edges with their entry.</summary>
    private int EmitFresh(GrammarExpr e, int from)
    {
        int start = _nfa.AddState();
        _nfa.Epsilon[from].Add(start);
        return Emit(e, start);
    }

    private int EmitRef(RuleRefExpr r, int from)
    {
        if (!_ruleIds.TryGetValue(r.Name, out int id))
            throw new GrammarException($"rule '{r.Name}' is used but not defined", r.Name);
        if (_inline[id])
        {
            if (++_depth > 200) throw new GrammarException($"rules nest too deeply at '{r.Name}'", r.Name);
            int end = EmitFresh(_bodies[id], from);
            _depth--;
            return end;
        }
        int to = _nfa.AddState();
        _nfa.Calls[from].Add((id, to));
        return to;
    }

    public string NameOf(int rule) => _names[rule];
}
