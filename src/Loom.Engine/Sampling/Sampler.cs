using System.Diagnostics;
using System.Numerics.Tensors;
using Loom.Core.Sampling;

namespace Loom.Engine.Sampling;

/// <summary>
/// Sampling state of one sequence: its own generator (seeded from <see cref="SamplingParams.Seed"/>, so seeded output
/// does not depend on batch composition), the tokens it has produced (penalties, min_tokens), and its filters.
/// Each call turns one logits row into one token, in vLLM's order: min_tokens mask on EOS/stop ids, repetition /
/// frequency / presence penalties, logit_bias, then greedy argmax, or temperature, top-k, top-p, min-p and a draw.
/// Never throws on a row's values: +inf (a penalty's overflow) is clamped to the largest float; a row left with no
/// finite logit (min_tokens masking every id) takes the request's own stop token (EOS first); a NaN logit, which only
/// a broken model produces, fails the row (<see cref="SampledToken.Fault"/>) so the engine ends that request alone.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingParams _params;
    private readonly int[] _minTokensMaskedIds; // EOS (unless ignore_eos) and stop_token_ids, masked until min_tokens
    private readonly PenaltyState? _penalties;  // null when every penalty is neutral
    private readonly int[] _biasIds;            // [logit_bias entries] token ids, matching _biasValues
    private readonly float[] _biasValues;       // [logit_bias entries] added to those logits
    private Xoshiro256StarStar _rng;

    /// <param name="completionIndex">Which of the request's n completions this is: seeded siblings use seed + index (as vLLM).</param>
    public Sampler(SamplingParams samplingParams, ReadOnlySpan<int> promptTokenIds, int vocabSize,
        IReadOnlyCollection<int> eosTokenIds, int completionIndex = 0)
    {
        ArgumentNullException.ThrowIfNull(samplingParams);
        ArgumentNullException.ThrowIfNull(eosTokenIds);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        _params = samplingParams;
        VocabSize = vocabSize;
        _minTokensMaskedIds = [.. (samplingParams.IgnoreEos ? [] : eosTokenIds).Concat(samplingParams.StopTokenIds).Distinct()];
        if (PenaltyState.AnyActive(samplingParams.RepetitionPenalty, samplingParams.FrequencyPenalty, samplingParams.PresencePenalty))
            _penalties = new PenaltyState(samplingParams.RepetitionPenalty, samplingParams.FrequencyPenalty,
                samplingParams.PresencePenalty, promptTokenIds);
        var bias = samplingParams.LogitBias ?? new Dictionary<int, float>();
        _biasIds = [.. bias.Keys];
        _biasValues = [.. bias.Values];
        _rng = samplingParams.Seed is long seed
            ? new Xoshiro256StarStar(unchecked((ulong)(seed + completionIndex)))
            : Xoshiro256StarStar.FromEntropy();
    }

    public SamplingParams Params => _params;
    public int VocabSize { get; }
    /// <summary>Tokens sampled so far (what penalties and min_tokens count).</summary>
    public int NumOutputTokens { get; private set; }

    /// <summary>Samples the next token from <paramref name="logits"/> ([vocab], edited in place) and records it.</summary>
    public SampledToken Sample(Span<float> logits, SamplerScratch scratch)
    {
        if (logits.Length != VocabSize)
            throw new ArgumentException($"The logits row has {logits.Length} entries; this sampler expects the vocab size {VocabSize}.", nameof(logits));
        scratch.EnsureCapacity(VocabSize);
        bool wantLogprobs = _params.Logprobs is not null;
        if (wantLogprobs) logits.CopyTo(scratch.RawLogits);

        bool masked = NumOutputTokens < _params.MinTokens && _minTokensMaskedIds.Length > 0;
        if (masked)
            foreach (int id in _minTokensMaskedIds)
                if ((uint)id < (uint)logits.Length) logits[id] = float.NegativeInfinity;
        _penalties?.Apply(logits);
        ApplyLogitBias(logits);
        if (!_params.IsGreedy) TensorPrimitives.Divide(logits, _params.Temperature, logits);

        var row = RowCheck.Inspect(logits);
        if (row == RowState.HasNaN)
            return SampledToken.Failed(new InvalidOperationException("The model produced NaN logits; nothing can be sampled."));
        int token = row == RowState.NoFiniteLogit ? FallbackToken(masked)
            : _params.IsGreedy ? TensorPrimitives.IndexOfMax(logits) : Draw(logits, scratch);
        if (token < 0)
            return SampledToken.Failed(new InvalidOperationException("The logits row has no finite value; nothing can be sampled."));
        _penalties?.Record(token);
        NumOutputTokens++;

        var logprobs = wantLogprobs
            ? LogprobCalculator.Compute(scratch.RawLogits.AsSpan(0, VocabSize), token, _params.Logprobs!.Value, scratch)
            : null;
        return new SampledToken(token, logprobs);
    }

    private void ApplyLogitBias(Span<float> logits)
    {
        for (int i = 0; i < _biasIds.Length; i++)
            if ((uint)_biasIds[i] < (uint)logits.Length) logits[_biasIds[i]] += _biasValues[i];
    }

    /// <summary>
    /// The token for a row with no finite logit: when the min_tokens mask hid every id, the request's own stop tokens
    /// are all it allows, so EOS (or its first stop id); -1 when the model itself gave nothing finite.
    /// </summary>
    private int FallbackToken(bool masked)
    {
        if (masked)
            foreach (int id in _minTokensMaskedIds)
                if ((uint)id < (uint)VocabSize) return id;
        return -1;
    }

    /// <summary>Over temperature-scaled logits: filtered (top-k/p, min-p) or whole-row draw.</summary>
    private int Draw(Span<float> logits, SamplerScratch scratch)
    {
        bool filtered = (_params.TopK > 0 && _params.TopK < logits.Length) || _params.TopP < 1f || _params.MinP > 0f;
        if (!filtered) return DrawFromRow(logits, scratch);
        var candidates = TokenFilter.Apply(logits, _params.TopK, _params.TopP, _params.MinP, scratch);
        return candidates.TokenIds[DrawIndex(candidates.Weights)];
    }

    /// <summary>A draw from softmax over the whole row.</summary>
    private int DrawFromRow(ReadOnlySpan<float> logits, SamplerScratch scratch)
    {
        float max = TensorPrimitives.Max(logits);
        Debug.Assert(float.IsFinite(max), "RowCheck leaves every sampled row a finite maximum");
        var weights = scratch.Weights.AsSpan(0, logits.Length);
        TensorPrimitives.Subtract(logits, max, weights);
        TensorPrimitives.Exp(weights, weights);
        return DrawIndex(weights);
    }

    /// <summary>Index i with probability weights[i] / Σ weights (inverse CDF; rounding falls to the last positive weight).</summary>
    private int DrawIndex(ReadOnlySpan<float> weights)
    {
        double total = 0;
        foreach (float w in weights) total += w;
        double u = _rng.NextDouble() * total, cumulative = 0;
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
