using Loom.Grammar.Vocab;

namespace Loom.Grammar.Matching;

/// <summary>
/// Configuration sets per depth along one path of the vocabulary trie. Level d holds the tops after the path's first
/// d bytes; a walk in depth-first order overwrites level d and deeper whenever it moves to a sibling. A level that is
/// one configuration in a plain state (bytes only) is kept as (state, parent) without interning: most trie nodes of a
/// permissive state (inside a string) are reached that way, at the cost of one table lookup.
/// </summary>
internal sealed class TrieLevels
{
    private readonly IntList _tops = new(1024);
    private int[] _end = new int[64];                 // [depth + 1] level d is _tops[_end[d-1].._end[d])
    private ReachFlags[] _flags = new ReachFlags[64]; // [depth + 1]
    private int[] _plainState = new int[64];          // [depth + 1] the plain state of a fast level, else -1
    private int[] _plainParent = new int[64];         // [depth + 1]

    public ReachFlags Flags(int depth) => _flags[depth];

    public bool IsEmpty(int depth) => _plainState[depth] < 0 && _end[depth] == Start(depth);

    /// <summary>Some configuration at this level does not rest on an over-approximated context.</summary>
    public bool AnyExact(StackNodes nodes, int depth)
    {
        if (_plainState[depth] >= 0) return !nodes.IsApprox(_plainParent[depth]);
        foreach (int top in _tops.Span[Start(depth).._end[depth]]) if (!nodes.IsApprox(top)) return true;
        return false;
    }

    public void SetRoot(PushdownStepper stepper, ReadOnlySpan<int> seeds, bool close)
    {
        _tops.Clear();
        _plainState[0] = -1;
        if (close) _flags[0] = stepper.Close(seeds, _tops);
        else
        {
            _tops.AddRange(seeds);
            _flags[0] = ReachFlags.None;
        }
        _end[0] = _tops.Count;
    }

    /// <summary>Computes level <paramref name="depth"/> from level depth-1 by reading <paramref name="b"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Extend(PushdownStepper stepper, int depth, byte b)
    {
        if (depth >= _end.Length) Grow(depth * 2);
        int start = Start(depth);
        _tops.Truncate(start);
        _end[depth] = start;
        _flags[depth] = ReachFlags.None;
        _plainState[depth] = -1;
        var g = stepper.Grammar;
        if (_plainState[depth - 1] >= 0)
        {
            int next = g.Step(_plainState[depth - 1], b);
            if (next < 0) return;
            if (g.IsPlain[next])
            {
                _plainState[depth] = next;
                _plainParent[depth] = _plainParent[depth - 1];
                return;
            }
            _flags[depth] = stepper.Close([stepper.Nodes.Intern(next, _plainParent[depth - 1])], _tops);
        }
        else
        {
            // Step reads the previous level while appending after it; the buffer may grow, so copy the level out.
            int from = depth == 1 ? 0 : _end[depth - 2];
            int count = _end[depth - 1] - from;
            Span<int> previous = count <= 64 ? stackalloc int[count] : new int[count];
            _tops.Span.Slice(from, count).CopyTo(previous);
            _flags[depth] = stepper.Step(previous, b, _tops);
        }
        _end[depth] = _tops.Count;
        if (_end[depth] - start == 1 && g.IsPlain[stepper.Nodes.State(_tops[start])] && _flags[depth] == ReachFlags.None)
        {
            _plainState[depth] = stepper.Nodes.State(_tops[start]);
            _plainParent[depth] = stepper.Nodes.Parent(_tops[start]);
            _tops.Truncate(start);
            _end[depth] = start;
        }
    }

    /// <summary>Where level d's tops start: after the last level below it that has explicit tops.</summary>
    private int Start(int depth) => depth == 0 ? 0 : _end[depth - 1];

    private void Grow(int n)
    {
        Array.Resize(ref _end, n);
        Array.Resize(ref _flags, n);
        Array.Resize(ref _plainState, n);
        Array.Resize(ref _plainParent, n);
    }
}

/// <summary>Walks the whole vocabulary trie from a set of configurations: the exact allowed set, no precomputation.</summary>
internal static class FullTrieWalk
{
    /// <summary>Sets the bit of every token whose bytes can be read from <paramref name="tops"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Allowed(PushdownStepper stepper, TokenVocabulary vocab, ReadOnlySpan<int> tops, TrieLevels levels, Span<ulong> mask)
    {
        var trie = vocab.Trie;
        levels.SetRoot(stepper, tops, close: false);
        for (int i = 0; i < trie.NodeCount;)
        {
            int d = trie.Depth[i];
            levels.Extend(stepper, d, trie.NodeByte[i]);
            bool alive = !levels.IsEmpty(d);
            if (trie.FirstToken[i] >= 0 && (alive || (levels.Flags(d) & ReachFlags.End) != 0))
                TokenMask.SetChain(mask, trie, trie.FirstToken[i]);
            i = alive ? i + 1 : trie.SubtreeEnd[i];
        }
    }
}

/// <summary>Bit operations on masks over token ids (bit t of word t/64).</summary>
public static class TokenMask
{
    public static bool IsSet(ReadOnlySpan<ulong> mask, int token) => (mask[token >> 6] & (1UL << (token & 63))) != 0;

    public static void Set(Span<ulong> mask, int token) => mask[token >> 6] |= 1UL << (token & 63);

    public static int Count(ReadOnlySpan<ulong> mask)
    {
        int n = 0;
        foreach (ulong w in mask) n += System.Numerics.BitOperations.PopCount(w);
        return n;
    }

    /// <summary>mask |= other, vectorised.</summary>
    public static void Or(Span<ulong> mask, ReadOnlySpan<ulong> other)
    {
        var m = System.Runtime.InteropServices.MemoryMarshal.Cast<ulong, System.Numerics.Vector<ulong>>(mask);
        var o = System.Runtime.InteropServices.MemoryMarshal.Cast<ulong, System.Numerics.Vector<ulong>>(other);
        for (int i = 0; i < m.Length; i++) m[i] |= o[i];
        for (int i = m.Length * System.Numerics.Vector<ulong>.Count; i < mask.Length; i++) mask[i] |= other[i];
    }

    internal static void SetChain(Span<ulong> mask, TokenTrie trie, int firstToken)
    {
        for (int t = firstToken; t >= 0; t = trie.NextSameBytes[t]) Set(mask, t);
    }
}
