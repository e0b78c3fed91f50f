namespace Loom.Grammar.Matching;

public sealed partial class GrammarMatcher
{
    /// <summary>
    /// Fills <paramref name="mask"/> ([vocab/64] words) with the tokens allowed next: end-of-sequence ids exactly when
    /// <see cref="CanEnd"/>. Each top contributes its state's precomputed accepted set, then its uncertain tokens are
    /// read against the real stack.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void ComputeMask(Span<ulong> mask)
    {
        if (mask.Length < _vocab.MaskWords) throw new ArgumentException($"the mask needs {_vocab.MaskWords} words", nameof(mask));
        mask.Clear();
        var tops = CurrentTops;
        _orStates.Clear();
        foreach (int top in tops)
            if (_orStates.Add(_nodes.State(top))) _grammar.Masks.For(_nodes.State(top)).OrAcceptedInto(mask);
        foreach (int top in tops) AddSurvivingUncertain(top, _grammar.Masks.For(_nodes.State(top)).Uncertain, mask);
        if (CanEnd) foreach (int eos in _vocab.EosTokenIds) TokenMask.Set(mask, eos);
    }

    /// <summary>The exact allowed set by walking the whole trie (no precomputed masks): the reference for tests.</summary>
    internal void ComputeMaskByFullWalk(Span<ulong> mask)
    {
        mask.Clear();
        FullTrieWalk.Allowed(_stepper, _vocab, CurrentTops, _levels, mask);
        if (CanEnd) foreach (int eos in _vocab.EosTokenIds) TokenMask.Set(mask, eos);
    }

    /// <summary>
    /// Reads each uncertain token from <paramref name="top"/>. The tokens come in byte order, so consecutive ones share
    /// prefixes: levels up to the common prefix are reused, and a prefix found dead skips every token under it.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void AddSurvivingUncertain(int top, int[] uncertain, Span<ulong> mask)
    {
        if (uncertain.Length == 0) return;
        var trie = _vocab.Trie;
        _levels.SetRoot(_stepper, [top], close: false);
        ReadOnlySpan<byte> prev = [];
        int deadAt = int.MaxValue; // level at which prev's path died
        foreach (int token in uncertain)
        {
            var bytes = _vocab.BytesOf(token);
            int common = bytes.CommonPrefixLength(prev);
            if (common >= deadAt) continue; // shares the dead prefix
            deadAt = int.MaxValue;
            prev = bytes;
            bool alive = true;
            for (int d = common + 1; d <= bytes.Length; d++)
            {
                _levels.Extend(_stepper, d, bytes[d - 1]);
                if (!_levels.IsEmpty(d)) continue;
                deadAt = d;
                alive = d == bytes.Length && (_levels.Flags(d) & ReachFlags.End) != 0;
                break;
            }
            if (alive) TokenMask.SetChain(mask, trie, token);
        }
    }
}
