using Loom.Grammar.Compile;

namespace Loom.Grammar.Matching;

/// <summary>
/// Moves sets of configurations through the grammar: <see cref="Close"/> follows calls and returns until every
/// configuration waits on a byte; <see cref="Step"/> reads one byte. A set of "tops" is always closed.
/// </summary>
internal sealed class PushdownStepper(CompiledGrammar grammar, StackNodes nodes)
{
    private int[] _seen = new int[256];   // [nodes] epoch at which the node was last visited
    private int _epoch;
    private readonly IntList _work = new();
    private readonly IntList _seeds = new();

    public CompiledGrammar Grammar => grammar;
    public StackNodes Nodes => nodes;

    /// <summary>Tops after reading <paramref name="b"/> from <paramref name="tops"/>, appended to <paramref name="result"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public ReachFlags Step(ReadOnlySpan<int> tops, byte b, IntList result)
    {
        _seeds.Clear();
        foreach (int top in tops)
        {
            int next = grammar.Step(nodes.State(top), b);
            if (next >= 0) _seeds.Add(nodes.Intern(next, nodes.Parent(top)));
        }
        return _seeds.Count == 0 ? ReachFlags.None : Close(_seeds.Span, result);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public ReachFlags Close(ReadOnlySpan<int> seeds, IntList result)
    {
        NewEpoch();
        var flags = ReachFlags.None;
        _work.Clear();
        _work.AddRange(seeds);
        while (_work.Count > 0)
        {
            int node = _work[_work.Count - 1];
            _work.Truncate(_work.Count - 1);
            if (!MarkSeen(node)) continue;
            switch (nodes.Kind(node))
            {
                case NodeKind.Config: ExpandConfig(node, result); break;
                case NodeKind.Bottom: flags |= ReachFlags.End; break;
                case NodeKind.ExactCaller: flags |= ReachFlags.ExactEscape | ExpandCallers(nodes.State(node)); break;
                default: flags |= ExpandCallers(nodes.State(node)); break;
            }
        }
        return flags;
    }

    private void ExpandConfig(int node, IntList result)
    {
        int s = nodes.State(node), parent = nodes.Parent(node);
        if (grammar.HasBytes[s]) result.Add(node);
        for (int i = grammar.CallOffset[s]; i < grammar.CallOffset[s + 1]; i++)
            _work.Add(nodes.Intern(grammar.RuleStart[grammar.CallRule[i]], nodes.Intern(grammar.CallReturn[i], parent)));
        if (grammar.Accepting[s]) _work.Add(parent);
    }

    /// <summary>Rule <paramref name="rule"/> ended under an unknown caller: continue at every place it is called from.</summary>
    private ReachFlags ExpandCallers(int rule)
    {
        foreach (int ret in grammar.ReturnSites[rule])
            _work.Add(nodes.Intern(ret, nodes.Context(grammar.RuleOf[ret], approx: true)));
        return rule == grammar.Root ? ReachFlags.ApproxEnd : ReachFlags.None;
    }

    private bool MarkSeen(int node)
    {
        if (node >= _seen.Length) Array.Resize(ref _seen, Math.Max(node + 1, _seen.Length * 2));
        if (_seen[node] == _epoch) return false;
        _seen[node] = _epoch;
        return true;
    }

    private void NewEpoch()
    {
        if (++_epoch == int.MaxValue)
        {
            Array.Clear(_seen);
            _epoch = 1;
        }
    }
}
