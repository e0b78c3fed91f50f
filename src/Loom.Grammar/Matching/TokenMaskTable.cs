using Loom.Grammar.Compile;
using Loom.Grammar.Vocab;

namespace Loom.Grammar.Matching;

/// <summary>
/// What each grammar state allows regardless of the stack beneath it (XGrammar's adaptive token mask cache): for a
/// configuration in state s, a token is <em>accepted</em> if some path reads all its bytes without leaving s's rule,
/// <em>rejected</em> if every path dies, even with the rule returning into any of its callers, and <em>uncertain</em>
/// otherwise. At run time a mask is the union of the accepted sets of the current tops plus the uncertain tokens that
/// survive the real stack, so the walk per step covers only the uncertain few.
/// </summary>
internal sealed class TokenMaskTable
{
    private readonly StateMasks?[] _byState;   // [grammar states] null for states that read no byte

    /// <param name="onState">Diagnostics: (state, trie nodes visited, elapsed ticks) per precomputed state.</param>
    /// <param name="threads">Workers sharing the states (each with its own stack nodes); default: all cores.</param>
    public TokenMaskTable(CompiledGrammar grammar, TokenVocabulary vocab, Action<int, long, long>? onState = null, int threads = 0)
    {
        _byState = new StateMasks?[grammar.StateCount];
        int next = -1;
        long visited = 0;
        int workers = Math.Max(1, Math.Min(threads > 0 ? threads : Environment.ProcessorCount, grammar.StateCount / 8 + 1));
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, _ =>
        {
            var worker = new Worker(grammar, vocab);
            for (int s; (s = Interlocked.Increment(ref next)) < grammar.StateCount;)
            {
                if (!grammar.HasBytes[s]) continue;
                long ticks = System.Diagnostics.Stopwatch.GetTimestamp();
                long nodes = worker.Classify(s);
                _byState[s] = worker.ToMasks();
                Interlocked.Add(ref visited, nodes);
                if (onState != null) lock (onState) onState(s, nodes, System.Diagnostics.Stopwatch.GetTimestamp() - ticks);
            }
        });
        NodesVisited = visited;
    }

    public StateMasks For(int state) => _byState[state] ?? throw new InvalidOperationException($"state {state} reads no byte");

    /// <summary>Trie nodes visited while precomputing (the compile cost's measure).</summary>
    public long NodesVisited { get; private set; }

    public long TotalUncertain => _byState.Sum(m => (long)(m?.Uncertain.Length ?? 0));

    /// <summary>One thread's precomputation scratch: its own stack nodes, levels and result buffers.</summary>
    private sealed class Worker(CompiledGrammar grammar, TokenVocabulary vocab)
    {
        private readonly StackNodes _nodes = new();
        private readonly TrieLevels _levels = new();
        private readonly ulong[] _accepted = new ulong[vocab.MaskWords];
        private readonly IntList _uncertain = new(1024);
        private PushdownStepper? _stepper;

        /// <summary>Walks the trie from state s under its rule's exact caller; returns the trie nodes visited.</summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public long Classify(int s)
        {
            var stepper = _stepper ??= new PushdownStepper(grammar, _nodes);
            var trie = vocab.Trie;
            var levels = _levels;
            Array.Clear(_accepted);
            _uncertain.Clear();
            levels.SetRoot(stepper, [_nodes.Intern(s, _nodes.Context(grammar.RuleOf[s], approx: false))], close: true);
            long visited = 0;
            for (int i = 0; i < trie.NodeCount;)
            {
                int d = trie.Depth[i];
                visited++;
                levels.Extend(stepper, d, trie.NodeByte[i]);
                bool alive = !levels.IsEmpty(d);
                int token = trie.FirstToken[i];
                if (token >= 0)
                {
                    var flags = levels.Flags(d);
                    if ((flags & ReachFlags.ExactEscape) != 0 || (alive && levels.AnyExact(_nodes, d)))
                        TokenMask.SetChain(_accepted, trie, token);
                    else if (alive || (flags & ReachFlags.ApproxEnd) != 0) _uncertain.Add(token);
                }
                i = alive ? i + 1 : trie.SubtreeEnd[i];
            }
            return visited;
        }

        public StateMasks ToMasks() => StateMasks.Create(_accepted, _uncertain, vocab);
    }
}

/// <summary>One state's precomputed part of the mask.</summary>
internal sealed class StateMasks
{
    private StateMasks(ulong[]? dense, int[] sparse, int[] uncertain)
    {
        Dense = dense;
        Sparse = sparse;
        Uncertain = uncertain;
    }

    /// <summary>The accepted set as a bitmask when it is large.</summary>
    public ulong[]? Dense { get; }
    /// <summary>The accepted set as token ids when it is small (a bitmask costs vocab/8 bytes per state).</summary>
    public int[] Sparse { get; }
    /// <summary>First token id per distinct byte string, in trie (byte-lexicographic) order.</summary>
    public int[] Uncertain { get; }

    public static StateMasks Create(ReadOnlySpan<ulong> accepted, IntList uncertain, TokenVocabulary vocab)
    {
        int count = TokenMask.Count(accepted);
        if (count * 32 > vocab.Size) return new StateMasks(accepted.ToArray(), [], uncertain.Span.ToArray());
        var sparse = new int[count];
        int n = 0;
        for (int w = 0; w < accepted.Length; w++)
            for (ulong bits = accepted[w]; bits != 0; bits &= bits - 1)
                sparse[n++] = (w << 6) + System.Numerics.BitOperations.TrailingZeroCount(bits);
        return new StateMasks(null, sparse, uncertain.Span.ToArray());
    }

    public void OrAcceptedInto(Span<ulong> mask)
    {
        if (Dense is { } dense)
        {
            TokenMask.Or(mask, dense);
            return;
        }
        foreach (int t in Sparse) TokenMask.Set(mask, t);
    }
}
