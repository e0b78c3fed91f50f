using System.Diagnostics;
using System.Numerics.Tensors;
using Loom.Core.Sampling;

namespace Loom.Engine.Sampling;

/// <summary>
/// Sampling state of one sequence: its own generator (seeded from <see cref="SamplingParams.Seed"/>, so seeded output
/// does not depend on batch composition), its logits processors, and the count of tokens it has committed.
/// Sampling is split in two: <see cref="Score"/> is pure (the row through the processors in order, vLLM's: min_tokens
/// mask on EOS/stop ids, repetition / frequency / presence penalties, logit_bias; then greedy argmax, or temperature,
/// top-k, top-p, min-p and a draw from a copy of the generator) and <see cref="Commit"/> takes a token, advancing the
/// generator and the processors. <see cref="Sample"/> is the two in a row; <see cref="SampleAgainstDraft(Span{float}, int, ReadOnlySpan{float}, SamplerScratch, out bool)"/>
/// verifies a speculative draft with the same processors, and <see cref="Draft"/> draws one from a draft model's row.
/// Never throws on a row's values: +inf (a penalty's overflow) is clamped to the largest float; a row left with no
/// finite logit (min_tokens masking every id) takes the request's own stop token (EOS first); a NaN logit, which only
/// a broken model produces, fails the row (<see cref="SampledToken.Fault"/>) so the engine ends that request alone.
/// </summary>
public sealed partial class Sampler
{
    private readonly SamplingParams _params;
    private readonly ILogitsProcessor[] _processors; // applied in order; empty when every option is neutral
    private readonly MinTokensProcessor? _minTokens; // also one of _processors: its ids are the fallback of a fully masked row
    private Xoshiro256StarStar _rng;
    private Xoshiro256StarStar _draftRng; // a draft model's draws (Sampler.Drafting.cs): a stream apart from _rng's

    /// <param name="completionIndex">Which of the request's n completions this is: seeded siblings use seed + index (as vLLM).</param>
    /// <param name="constraints">Processors that run before those the params ask for (a grammar mask), so that
    /// penalties, top-k and top-p see only allowed tokens.</param>
    public Sampler(SamplingParams samplingParams, ReadOnlySpan<int> promptTokenIds, int vocabSize,
        IReadOnlyCollection<int> eosTokenIds, int completionIndex = 0, IReadOnlyList<ILogitsProcessor>? constraints = null)
    {
        ArgumentNullException.ThrowIfNull(samplingParams);
        ArgumentNullException.ThrowIfNull(eosTokenIds);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        _params = samplingParams;
        VocabSize = vocabSize;
        _processors = [.. constraints ?? [], .. LogitsProcessors.For(samplingParams, promptTokenIds, eosTokenIds)];
        _minTokens = _processors.OfType<MinTokensProcessor>().FirstOrDefault();
        (_rng, _draftRng) = samplingParams.Seed is long seed
            ? (new Xoshiro256StarStar(unchecked((ulong)(seed + completionIndex))), new Xoshiro256StarStar(unchecked((ulong)(seed + completionIndex)) ^ DraftStream))
            : (Xoshiro256StarStar.FromEntropy(), Xoshiro256StarStar.FromEntropy());
    }

    public SamplingParams Params => _params;
    public int VocabSize { get; }
    /// <summary>Tokens committed so far (what min_tokens counts).</summary>
    public int NumOutputTokens { get; private set; }

    /// <summary>Samples the next token from <paramref name="logits"/> ([vocab], edited in place) and commits it.</summary>
    public SampledToken Sample(Span<float> logits, SamplerScratch scratch)
    {
        var scored = Score(logits, scratch);
        if (scored.Fault is null) Commit(scored.TokenId);
        return scored;
    }

    /// <summary>
    /// What would be drawn from <paramref name="logits"/> ([vocab], edited in place by the processors and temperature),
    /// with its log-probabilities where asked for. Changes no state: scoring the same row twice gives the same token.
    /// </summary>
    public SampledToken Score(Span<float> logits, SamplerScratch scratch)
    {
        var row = Prepare(logits, scratch);
        if (row == RowState.HasNaN) return NaNRow();
        var rng = _rng; // a copy: the draw is what Commit will consume
        int? token = row == RowState.NoFiniteLogit ? FallbackToken()
            : _params.IsGreedy ? TensorPrimitives.IndexOfMax(logits) : Draw(logits, scratch, ref rng);
        return Result(token, scratch);
    }

    /// <summary>
    /// Speculative verification of one drafted position whose proposer put all its mass on the draft (q = 1, as n-gram
    /// lookup or a greedy draft model): <see cref="SampleAgainstDraft(Span{float}, int, ReadOnlySpan{float}, SamplerScratch, out bool)"/>
    /// with no draft distribution.
    /// </summary>
    public SampledToken SampleAgainstDraft(Span<float> logits, int draftTokenId, SamplerScratch scratch, out bool accepted) =>
        SampleAgainstDraft(logits, draftTokenId, [], scratch, out accepted);

    /// <summary>
    /// Speculative verification of one drafted position: the row of the position the draft fills, through the same
    /// processors as <see cref="Score"/>, decides whether <paramref name="draftTokenId"/> stands. Greedy: it stands when
    /// it is the argmax, else the argmax is emitted. Random (Leviathan et al. / Chen et al.): with p the filtered,
    /// temperature-scaled target distribution and q the distribution the draft was drawn from, the draft stands with
    /// probability min(1, p(d) / q(d)); otherwise the token is drawn from max(0, p - q) normalised, so every token comes
    /// out with probability exactly p whatever q is. Commits the token it returns (the draws it made are used up);
    /// <paramref name="accepted"/> says whether it is the draft.
    /// </summary>
    /// <param name="draftProbs">[vocab] q, summing to 1; empty = a point mass on the draft (q = 1).</param>
    public SampledToken SampleAgainstDraft(Span<float> logits, int draftTokenId, ReadOnlySpan<float> draftProbs, SamplerScratch scratch,
        out bool accepted)
    {
        accepted = false;
        if (!draftProbs.IsEmpty && draftProbs.Length != VocabSize)
            throw new ArgumentException($"The draft distribution has {draftProbs.Length} entries; this sampler expects the vocab size {VocabSize}.", nameof(draftProbs));
        var row = Prepare(logits, scratch);
        if (row == RowState.HasNaN) return NaNRow();
        int? sampled = row == RowState.NoFiniteLogit ? FallbackToken()
            : _params.IsGreedy ? TensorPrimitives.IndexOfMax(logits) : DrawAgainstDraft(logits, draftTokenId, draftProbs, scratch);
        var result = Result(sampled, scratch);
        if (result.Fault is not null) return result;
        accepted = result.TokenId == draftTokenId;
        Advance(result.TokenId);
        return result;
    }

    /// <summary>The row through the processors and temperature, then checked; raw logits kept for log-probabilities.</summary>
    private RowState Prepare(Span<float> logits, SamplerScratch scratch)
    {
        if (logits.Length != VocabSize)
            throw new ArgumentException($"The logits row has {logits.Length} entries; this sampler expects the vocab size {VocabSize}.", nameof(logits));
        scratch.EnsureCapacity(VocabSize);
        if (_params.Logprobs is not null) logits.CopyTo(scratch.RawLogits);
        foreach (var processor in _processors) processor.Apply(logits, NumOutputTokens);
        if (!_params.IsGreedy) TensorPrimitives.Divide(logits, _params.Temperature, logits);
        return RowCheck.Inspect(logits);
    }

    private static SampledToken NaNRow() =>
        SampledToken.Failed(new InvalidOperationException("The model produced NaN logits; nothing can be sampled."));

    private SampledToken Result(int? sampled, SamplerScratch scratch)
    {
        if (sampled is not int token)
            return SampledToken.Failed(new InvalidOperationException("The logits row has no finite value; nothing can be sampled."));
        var logprobs = _params.Logprobs is int top
            ? LogprobCalculator.Compute(scratch.RawLogits.AsSpan(0, VocabSize), token, top, scratch)
            : null;
        return new SampledToken(token, logprobs);
    }

    /// <summary>Takes <paramref name="tokenId"/> as the next output: the draw is used up and every processor advances.</summary>
    public void Commit(int tokenId)
    {
        if (!_params.IsGreedy) _rng.NextUInt64(); // the one draw Score made from its copy (a fallback row drew none; harmless)
        Advance(tokenId);
    }

    private void Advance(int tokenId)
    {
        foreach (var processor in _processors) processor.Commit(tokenId);
        NumOutputTokens++;
    }

    /// <summary>
    /// The token for a row with no finite logit: when the min_tokens mask hid every id, the request's own stop tokens
    /// are all it allows, so EOS (or its first stop id); -1 when the model itself gave nothing finite.
    /// </summary>
    private int? FallbackToken() => _minTokens?.FallbackToken(NumOutputTokens, VocabSize);

    /// <summary>Over temperature-scaled logits: filtered (top-k/p, min-p) or whole-row draw.</summary>
    private int Draw(Span<float> logits, SamplerScratch scratch, ref Xoshiro256StarStar rng)
    {
        bool filtered = (_params.TopK > 0 && _params.TopK < logits.Length) || _params.TopP < 1f || _params.MinP > 0f;
        if (!filtered) return DrawFromRow(logits, scratch, ref rng);
        var candidates = TokenFilter.Apply(logits, _params.TopK, _params.TopP, _params.MinP, scratch);
        return candidates.TokenIds[DrawIndex(candidates.Weights, ref rng)];
    }

    /// <summary>
    /// The rejection rule: one uniform u, the draft stands when u · q(d) &lt; p(d); if not, a draw from the residual
    /// max(0, p - q) over the same candidate weights (for q = 1 that is p with the draft's weight zeroed). Uses the
    /// generator itself (these draws are committed).
    /// </summary>
    private int DrawAgainstDraft(Span<float> logits, int draft, ReadOnlySpan<float> q, SamplerScratch scratch)
    {
        bool filtered = (_params.TopK > 0 && _params.TopK < logits.Length) || _params.TopP < 1f || _params.MinP > 0f;
        ReadOnlySpan<int> ids = default; // empty = weights indexed by token id (the whole row)
        int count;
        if (filtered)
        {
            var candidates = TokenFilter.Apply(logits, _params.TopK, _params.TopP, _params.MinP, scratch);
            ids = candidates.TokenIds;
            count = candidates.Count;
        }
        else
        {
            ExpOfRow(logits, scratch);
            count = logits.Length;
        }
        // The candidate weights live in scratch.Weights[..count] (TokenFilter writes them there too): editable here.
        var weights = scratch.Weights.AsSpan(0, count);
        int draftIndex = filtered ? ids.IndexOf(draft) : (uint)draft < (uint)count ? draft : -1;
        double total = 0;
        foreach (float w in weights) total += w;
        double qDraft = q.IsEmpty ? 1.0 : q[draft];
        double u = _rng.NextDouble();
        if (draftIndex >= 0 && u * qDraft * total < weights[draftIndex]) return draft;
        if (q.IsEmpty)
        {
            if (draftIndex >= 0) weights[draftIndex] = 0;
        }
        else if (!ToResidual(weights, total, ids, q))
        {
            return draft; // p <= q everywhere means p = q: only rounding could reject, and p's own draw may be the draft
        }
        int index = DrawIndex(weights, ref _rng);
        return filtered ? ids[index] : index;
    }

    /// <summary>
    /// weights[i] = max(0, weights[i] / total - q[token of i]): the residual distribution, unnormalised (DrawIndex
    /// normalises). Tokens outside the candidates have p = 0 and so no residual. False when nothing is left.
    /// </summary>
    private static bool ToResidual(Span<float> weights, double total, ReadOnlySpan<int> ids, ReadOnlySpan<float> q)
    {
        bool any = false;
        for (int i = 0; i < weights.Length; i++)
        {
            float residual = (float)(weights[i] / total) - q[ids.IsEmpty ? i : ids[i]];
            weights[i] = residual > 0 ? residual : 0;
            any |= residual > 0;
        }
        return any;
    }

    /// <summary>A draw from softmax over the whole row.</summary>
    private static int DrawFromRow(ReadOnlySpan<float> logits, SamplerScratch scratch, ref Xoshiro256StarStar rng) =>
        DrawIndex(ExpOfRow(logits, scratch), ref rng);

    /// <summary>scratch.Weights[..vocab] = exp(logit - max): unnormalised softmax of the whole row.</summary>
    private static Span<float> ExpOfRow(ReadOnlySpan<float> logits, SamplerScratch scratch)
    {
        float max = TensorPrimitives.Max(logits);
        Debug.Assert(float.IsFinite(max), "RowCheck leaves every sampled row a finite maximum");
        var weights = scratch.Weights.AsSpan(0, logits.Length);
        TensorPrimitives.Subtract(logits, max, weights);
        TensorPrimitives.Exp(weights, weights);
        return weights;
    }

    /// <summary>Index i with probability weights[i] / Σ weights (inverse CDF; rounding falls to the last positive weight).</summary>
    private static int DrawIndex(ReadOnlySpan<float> weights, ref Xoshiro256StarStar rng)
    {
        double total = 0;
        foreach (float w in weights) total += w;
        double u = rng.NextDouble() * total, cumulative = 0;
        int last = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            if (weights[i] <= 0) continue;
            cumulative += weights[i];
            last = i;
            if (u < cumulative) return i;
        }
        return last;
    }
}
