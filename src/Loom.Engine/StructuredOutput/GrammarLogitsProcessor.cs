using Loom.Engine.Sampling;
using Loom.Grammar.Matching;

namespace Loom.Engine.StructuredOutput;

/// <summary>
/// Constrained decoding for one sequence: every token the grammar does not allow next gets -inf before penalties,
/// top-k and top-p run, so sampling stays exact over the allowed set; end-of-sequence ids stay only where the grammar
/// can end. <see cref="Apply"/> computes the mask without moving the matcher; <see cref="Commit"/> advances it.
/// </summary>
public sealed class GrammarLogitsProcessor : ILogitsProcessor
{
    private readonly GrammarMatcher _matcher;
    private readonly ulong[] _mask; // [vocab / 64] allowed-token bits, reused every step

    public GrammarLogitsProcessor(TokenGrammar grammar)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        _matcher = grammar.CreateMatcher();
        _mask = new ulong[grammar.Vocabulary.MaskWords];
    }

    public GrammarMatcher Matcher => _matcher;

    /// <summary>
    /// Ids at or beyond the tokenizer's vocabulary (a model's padded embedding rows) are never allowed.
    /// </summary>
    public void Apply(Span<float> logits, int numOutputTokens)
    {
        _matcher.ComputeMask(_mask);
        for (int w = 0; w < _mask.Length && w * 64 < logits.Length; w++)
        {
            ulong blocked = ~_mask[w];
            if (blocked == 0) continue;
            int end = Math.Min(64, logits.Length - w * 64);
            for (int b = 0; b < end; b++)
                if ((blocked & (1UL << b)) != 0) logits[w * 64 + b] = float.NegativeInfinity;
        }
        int tail = _mask.Length * 64;
        if (tail < logits.Length) logits[tail..].Fill(float.NegativeInfinity);
    }

    /// <summary>
    /// A token the mask forbade can still arrive (a fully masked row's fallback): the matcher keeps its state, and the
    /// next mask is computed from the last accepted position.
    /// </summary>
    public void Commit(int tokenId) => _matcher.TryAdvance(tokenId);

    /// <summary>A drafted token the mask allowed did advance the matcher: one step back.</summary>
    public void Uncommit(int tokenId) => _matcher.Rollback(1);
}
