namespace Loom.Grammar.Matching;

/// <summary>
/// The graph-structured stack: every configuration is a node (state, parent) interned once, so stacks that agree
/// share nodes and a configuration is one int. Node 0 is the bottom (the whole output has ended). Mask precomputation
/// adds context nodes: "the caller of rule r, exactly the one this walk started under" and "any caller of rule r".
/// </summary>
internal sealed class StackNodes
{
    public const int Bottom = 0;

    private int[] _state = new int[256];     // [nodes] DFA state, or the rule of a context node
    private int[] _parent = new int[256];    // [nodes]
    private NodeKind[] _kind = new NodeKind[256];
    private bool[] _approx = new bool[256];  // [nodes] the stack bottoms out in an over-approximated context
    private readonly Dictionary<long, int> _index = [];

    public StackNodes() => Add(-1, -1, NodeKind.Bottom, approx: false);

    public int Count { get; private set; }

    public int State(int node) => _state[node];
    public int Parent(int node) => _parent[node];
    public NodeKind Kind(int node) => _kind[node];
    public bool IsApprox(int node) => _approx[node];

    public int Intern(int state, int parent)
    {
        long key = ((long)state << 32) | (uint)parent;
        if (_index.TryGetValue(key, out int node)) return node;
        node = Add(state, parent, NodeKind.Config, _approx[parent]);
        _index[key] = node;
        return node;
    }

    /// <summary>A context node standing for the caller(s) of <paramref name="rule"/>; one per rule and kind.</summary>
    public int Context(int rule, bool approx)
    {
        long key = (1L << 62) | ((long)rule << 1) | (approx ? 1L : 0L);
        if (_index.TryGetValue(key, out int node)) return node;
        node = Add(rule, -1, approx ? NodeKind.AnyCaller : NodeKind.ExactCaller, approx);
        _index[key] = node;
        return node;
    }

    private int Add(int state, int parent, NodeKind kind, bool approx)
    {
        if (Count == _state.Length)
        {
            int n = Count * 2;
            Array.Resize(ref _state, n);
            Array.Resize(ref _parent, n);
            Array.Resize(ref _kind, n);
            Array.Resize(ref _approx, n);
        }
        _state[Count] = state;
        _parent[Count] = parent;
        _kind[Count] = kind;
        _approx[Count] = approx;
        return Count++;
    }
}

internal enum NodeKind : byte { Config, Bottom, ExactCaller, AnyCaller }

/// <summary>What a closure reached besides configurations that read a next byte.</summary>
[Flags]
internal enum ReachFlags : byte
{
    None = 0,
    /// <summary>The output may end here (the root rule completed on the real stack).</summary>
    End = 1,
    /// <summary>The rule the precomputation started in completed, on the exact path.</summary>
    ExactEscape = 2,
    /// <summary>An over-approximated context could end the output here.</summary>
    ApproxEnd = 4,
}
