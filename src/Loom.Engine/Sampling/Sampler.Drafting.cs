using System.Numerics.Tensors;

namespace Loom.Engine.Sampling;

/// <summary>
/// The draft model's side of speculative sampling. A draft drawn from the distribution q that the target would give
/// the same row (the sequence's own processors, temperature, top-k, top-p, min-p) is accepted with probability
/// Σ min(p, q), where a greedy draft (q a point mass) stands only with probability p(d): at temperature 1 most greedy
/// drafts are wasted. Each drafted token is committed tentatively, so the next drafted position sees it (penalties
/// count it, the grammar advances past it, min_tokens counts it), and <see cref="UndoDrafts"/> takes the run back
/// before the target verifies it. Draws use a generator of their own, so a seeded request repeats and the verifier's
/// uniforms stay independent of the draft.
/// </summary>
public sealed partial class Sampler
{
    /// <summary>Mixed into the seed of the draft generator: seed s drafts from a stream unrelated to its own.</summary>
    private const ulong DraftStream = 0xD1B5_4A32_D192_ED03UL;

    /// <summary>
    /// Draws the next draft from the draft model's <paramref name="logits"/> ([vocab], edited in place) and commits it
    /// tentatively. Random sampling writes the distribution it drew from to <paramref name="q"/> ([vocab], summing to
    /// 1, zero outside the candidates) for the verifier; greedy takes the argmax and leaves <paramref name="q"/> alone
    /// (greedy verification needs none). Returns -1, committing nothing, for a row with no finite logit or a NaN:
    /// drafting stops there.
    /// </summary>
    public int Draft(Span<float> logits, Span<float> q, SamplerScratch scratch)
    {
        if (Prepare(logits, scratch) != RowState.Finite) return -1;
        int token = _params.IsGreedy ? TensorPrimitives.IndexOfMax(logits) : DrawDraft(logits, q, scratch);
        Advance(token);
        return token;
    }

    /// <summary>Takes back the tentative commits of <paramref name="drafts"/> (the tokens <see cref="Draft"/> returned, in order).</summary>
    public void UndoDrafts(ReadOnlySpan<int> drafts)
    {
        for (int d = drafts.Length - 1; d >= 0; d--)
        {
            for (int i = _processors.Length - 1; i >= 0; i--) _processors[i].Uncommit(drafts[d]);
            NumOutputTokens--;
        }
    }

    /// <summary>q = the candidates' weights normalised (the target's own filter), then a draw from q.</summary>
    private int DrawDraft(Span<float> logits, Span<float> q, SamplerScratch scratch)
    {
        if (q.Length != VocabSize)
            throw new ArgumentException($"The draft distribution has {q.Length} entries; this sampler expects the vocab size {VocabSize}.", nameof(q));
        bool filtered = (_params.TopK > 0 && _params.TopK < logits.Length) || _params.TopP < 1f || _params.MinP > 0f;
        if (!filtered)
        {
            var weights = ExpOfRow(logits, scratch);
            TensorPrimitives.Divide(weights, TensorPrimitives.Sum(weights), q);
            return DrawIndex(q, ref _draftRng);
        }
        var candidates = TokenFilter.Apply(logits, _params.TopK, _params.TopP, _params.MinP, scratch);
        float total = TensorPrimitives.Sum(candidates.Weights);
        q.Clear();
        for (int i = 0; i < candidates.Count; i++) q[candidates.TokenIds[i]] = candidates.Weights[i] / total;
        return candidates.TokenIds[DrawIndex(candidates.Weights, ref _draftRng)];
    }
}
