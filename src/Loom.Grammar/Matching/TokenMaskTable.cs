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

    public TokenMaskTable(CompiledGrammar grammar, TokenVocabulary vocab)
    {
        _byState = new StateMasks?[grammar.StateCount];
        var nodes = new StackNodes();
        var stepper = new PushdownStepper(grammar, nodes);
        var levels = new TrieLevels();
        var accepted = new IntList(1024);
        var uncertain = new IntList(1024);
        for (int s = 0; s < grammar.StateCount; s++)
        {
            if (!grammar.HasBytes[s]) continue;
            Classify(stepper, vocab, nodes.Intern(s, nodes.Context(grammar.RuleOf[s], approx: false)), levels, accepted, uncertain);
            _byState[s] = StateMasks.Create(accepted, uncertain, vocab);
        }
    }

    public StateMasks For(int state) => _byState[state] ?? throw new InvalidOperationException($"state {state} reads no byte");

    public long TotalUncertain => _byState.Sum(m => (long)(m?.Uncertain.Length ?? 0));

    private static void Classify(PushdownStepper stepper, TokenVocabulary vocab, int seed, TrieLevels levels,
        IntList accepted, IntList uncertain)
    {
        var trie = vocab.Trie;
        accepted.Clear();
        uncertain.Clear();
        levels.SetRoot(stepper, [seed], close: true);
        for (int i = 0; i < trie.NodeCount;)
        {
            int d = trie.Depth[i];
            levels.Extend(stepper, d, trie.NodeByte[i]);
            var tops = levels.Tops(d);
            var flags = levels.Flags(d);
            if (trie.FirstToken[i] >= 0)
            {
                if ((flags & ReachFlags.ExactEscape) != 0 || AnyExact(stepper.Nodes, tops))
                    for (int t = trie.FirstToken[i]; t >= 0; t = trie.NextSameBytes[t]) accepted.Add(t);
                else if (tops.Length > 0 || (flags & ReachFlags.ApproxEnd) != 0) uncertain.Add(trie.FirstToken[i]);
            }
            i = tops.Length > 0 ? i + 1 : trie.SubtreeEnd[i];
        }
    }

    private static bool AnyExact(StackNodes nodes, ReadOnlySpan<int> tops)
    {
        foreach (int top in tops) if (!nodes.IsApprox(top)) return true;
        return false;
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

    public static StateMasks Create(IntList accepted, IntList uncertain, TokenVocabulary vocab)
    {
        if (accepted.Count * 32 <= vocab.Size) return new StateMasks(null, accepted.Span.ToArray(), uncertain.Span.ToArray());
        var dense = new ulong[vocab.MaskWords];
        foreach (int t in accepted.Span) TokenMask.Set(dense, t);
        return new StateMasks(dense, [], uncertain.Span.ToArray());
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
