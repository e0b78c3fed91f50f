using Loom.Grammar.Vocab;

namespace Loom.Grammar.Matching;

/// <summary>
/// Configuration sets per depth along one path of the vocabulary trie. Level d holds the tops after the path's first
/// d bytes; a walk in depth-first order overwrites level d and deeper whenever it moves to a sibling.
/// </summary>
internal sealed class TrieLevels
{
    private readonly IntList _tops = new(1024);
    private int[] _end = new int[64];                 // [depth + 1] level d is _tops[_end[d-1].._end[d])
    private ReachFlags[] _flags = new ReachFlags[64]; // [depth + 1]

    public ReadOnlySpan<int> Tops(int depth) => _tops.Span[(depth == 0 ? 0 : _end[depth - 1]).._end[depth]];
    public ReachFlags Flags(int depth) => _flags[depth];

    public void SetRoot(PushdownStepper stepper, ReadOnlySpan<int> seeds, bool close)
    {
        _tops.Clear();
        if (close) _flags[0] = stepper.Close(seeds, _tops);
        else
        {
            _tops.AddRange(seeds);
            _flags[0] = ReachFlags.None;
        }
        _end[0] = _tops.Count;
    }

    /// <summary>Computes level <paramref name="depth"/> from level depth-1 by reading <paramref name="b"/>.</summary>
    public void Extend(PushdownStepper stepper, int depth, byte b)
    {
        if (depth >= _end.Length)
        {
            Array.Resize(ref _end, depth * 2);
            Array.Resize(ref _flags, depth * 2);
        }
        _tops.Truncate(_end[depth - 1]);
        // Step reads the previous level while appending after it: the spans do not overlap, but the buffer may grow,
        // so the previous level is copied out first when it is not tiny.
        int start = depth == 1 ? 0 : _end[depth - 2];
        int count = _end[depth - 1] - start;
        Span<int> previous = count <= 64 ? stackalloc int[count] : new int[count];
        _tops.Span.Slice(start, count).CopyTo(previous);
        _flags[depth] = stepper.Step(previous, b, _tops);
        _end[depth] = _tops.Count;
    }
}

/// <summary>Walks the whole vocabulary trie from a set of configurations: the exact allowed set, no precomputation.</summary>
internal static class FullTrieWalk
{
    /// <summary>Sets the bit of every token whose bytes can be read from <paramref name="tops"/>.</summary>
    public static void Allowed(PushdownStepper stepper, TokenVocabulary vocab, ReadOnlySpan<int> tops, TrieLevels levels, Span<ulong> mask)
    {
        var trie = vocab.Trie;
        levels.SetRoot(stepper, tops, close: false);
        for (int i = 0; i < trie.NodeCount;)
        {
            int d = trie.Depth[i];
            levels.Extend(stepper, d, trie.NodeByte[i]);
            bool alive = levels.Tops(d).Length > 0;
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
