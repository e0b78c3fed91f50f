using System.Numerics.Tensors;
using Loom.Core.Sampling;

namespace Loom.Engine.Sampling;

/// <summary>
/// Sampling state of one sequence: its own generator (seeded from <see cref="SamplingParams.Seed"/>, so seeded output
/// does not depend on batch composition), the tokens it has produced (penalties, min_tokens), and its filters.
/// Each call turns one logits row into one token, in vLLM's order: min_tokens mask on EOS/stop ids, repetition /
/// frequency / presence penalties, then greedy argmax, or temperature, top-k, top-p, min-p and a draw.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingParams _params;
    private readonly int[] _minTokensMaskedIds; // EOS (unless ignore_eos) and stop_token_ids, masked until min_tokens
    private readonly PenaltyState? _penalties;  // null when every penalty is neutral
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

        if (NumOutputTokens < _params.MinTokens)
            foreach (int id in _minTokensMaskedIds)
                if ((uint)id < (uint)logits.Length) logits[id] = float.NegativeInfinity;
        _penalties?.Apply(logits);

        int token = _params.IsGreedy ? TensorPrimitives.IndexOfMax(logits) : Draw(logits, scratch);
        _penalties?.Record(token);
        NumOutputTokens++;

        var logprobs = wantLogprobs
            ? LogprobCalculator.Compute(scratch.RawLogits.AsSpan(0, VocabSize), token, _params.Logprobs!.Value, scratch)
            : null;
        return new SampledToken(token, logprobs);
    }

    private int Draw(Span<float> logits, SamplerScratch scratch)
    {
        TensorPrimitives.Divide(logits, _params.Temperature, logits);
        bool filtered = (_params.TopK > 0 && _params.TopK < logits.Length) || _params.TopP < 1f || _params.MinP > 0f;
        if (!filtered) return DrawFromRow(logits, scratch);
        var candidates = TokenFilter.Apply(logits, _params.TopK, _params.TopP, _params.MinP, scratch);
        return candidates.TokenIds[DrawIndex(candidates.Weights)];
    }

    /// <summary>A draw from softmax over the whole row.</summary>
    private int DrawFromRow(ReadOnlySpan<float> logits, SamplerScratch scratch)
    {
        float max = TensorPrimitives.Max(logits);
        if (!float.IsFinite(max))
            throw new InvalidOperationException($"Cannot sample: the logits row has no finite maximum ({max}).");
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
