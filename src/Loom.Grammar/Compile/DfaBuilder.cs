namespace Loom.Grammar.Compile;

/// <summary>
/// Subset construction of each rule's NFA into a DFA over byte classes; call edges are determinised too (one target
/// per called rule). All rules' states go into one numbering.
/// </summary>
internal sealed class DfaBuilder(byte[] byteClass, int classCount, Nfa?[] nfas)
{
    private readonly List<int> _next = [];        // [states * classes]
    private readonly List<bool> _accepting = [];
    private readonly List<int> _ruleOf = [];
    private readonly List<(int Rule, int To)[]> _calls = [];
    private readonly int[] _ruleStart = Enumerable.Repeat(-1, nfas.Length).ToArray();

    public void AddRule(int rule, Nfa nfa)
    {
        var index = new Dictionary<int[], int>(IntArrayComparer.Instance);
        var pending = new Queue<int[]>();
        _ruleStart[rule] = Intern(Closure(nfa, [nfa.Start]), rule, nfa, index, pending);
        var buckets = new List<int>[classCount];
        for (int c = 0; c < classCount; c++) buckets[c] = [];
        while (pending.Count > 0)
        {
            int[] members = pending.Dequeue();
            int id = index[members];
            foreach (var list in buckets) list.Clear();
            var callTargets = new SortedDictionary<int, List<int>>();
            foreach (int s in members)
            {
                foreach (var (lo, hi, to) in nfa.Bytes[s])
                    for (int c = byteClass[lo]; c <= byteClass[hi]; c++) buckets[c].Add(to);
                foreach (var (callee, to) in nfa.Calls[s])
                {
                    if (!callTargets.TryGetValue(callee, out var targets)) callTargets[callee] = targets = [];
                    targets.Add(to);
                }
            }
            for (int c = 0; c < classCount; c++)
                if (buckets[c].Count > 0) _next[id * classCount + c] = Intern(Closure(nfa, buckets[c]), rule, nfa, index, pending);
            _calls[id] = [.. callTargets.Select(kv => (kv.Key, Intern(Closure(nfa, kv.Value), rule, nfa, index, pending)))];
        }
    }

    private int Intern(int[] members, int rule, Nfa nfa, Dictionary<int[], int> index, Queue<int[]> pending)
    {
        if (index.TryGetValue(members, out int id)) return id;
        id = _accepting.Count;
        if (id >= GrammarCompiler.MaxDfaStates)
            throw new GrammarException($"the grammar is too large (over {GrammarCompiler.MaxDfaStates} automaton states)");
        index[members] = id;
        _accepting.Add(Array.BinarySearch(members, nfa.Final) >= 0);
        _ruleOf.Add(rule);
        _calls.Add([]);
        for (int c = 0; c < classCount; c++) _next.Add(-1);
        pending.Enqueue(members);
        return id;
    }

    private static int[] Closure(Nfa nfa, IEnumerable<int> seeds)
    {
        var set = new HashSet<int>();
        var stack = new Stack<int>(seeds);
        while (stack.Count > 0)
        {
            int s = stack.Pop();
            if (!set.Add(s)) continue;
            foreach (int t in nfa.Epsilon[s]) stack.Push(t);
        }
        // Only states that read, call or end matter for what follows; dropping the epsilon-only ones makes subsets
        // reached along different paths (a plain character versus an escape) the same DFA state.
        int[] members = [.. set.Where(s => nfa.Bytes[s].Count > 0 || nfa.Calls[s].Count > 0 || s == nfa.Final)];
        Array.Sort(members);
        return members;
    }

    public CompiledGrammar Finish(string[] names, int root)
    {
        int states = _accepting.Count;
        var callOffset = new int[states + 1];
        for (int s = 0; s < states; s++) callOffset[s + 1] = callOffset[s] + _calls[s].Length;
        int[] callRule = [.. _calls.SelectMany(c => c.Select(x => x.Rule))];
        int[] callReturn = [.. _calls.SelectMany(c => c.Select(x => x.To))];
        // Inlined rules have no states of their own; any remaining call of them would be a builder bug.
        return new CompiledGrammar(names, root, _ruleStart, byteClass, classCount, [.. _next], [.. _accepting],
            [.. _ruleOf], callOffset, callRule, callReturn);
    }
}

internal sealed class IntArrayComparer : IEqualityComparer<int[]>
{
    public static readonly IntArrayComparer Instance = new();

    public bool Equals(int[]? x, int[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode(int[] a)
    {
        var h = new HashCode();
        foreach (int v in a) h.Add(v);
        return h.ToHashCode();
    }
}
