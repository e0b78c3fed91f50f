namespace Loom.Core.Sampling;

/// <summary>
/// How one request is sampled and when it stops (vLLM's SamplingParams vocabulary).
/// Immutable; <see cref="Validate"/> rejects bad values with an exception naming the field.
/// </summary>
public sealed record SamplingParams
{
    public int N { get; init; } = 1;
    public float Temperature { get; init; } = 1.0f;
    public float TopP { get; init; } = 1.0f;
    /// <summary>0 or -1 disables top-k.</summary>
    public int TopK { get; init; } = 0;
    public float MinP { get; init; } = 0.0f;
    public float PresencePenalty { get; init; } = 0.0f;
    public float FrequencyPenalty { get; init; } = 0.0f;
    public float RepetitionPenalty { get; init; } = 1.0f;
    /// <summary>Per-request generator seed: seeded output does not depend on batch composition.</summary>
    public long? Seed { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    /// <summary>Whether the matched stop string is kept in the output (vLLM: include_stop_str_in_output).</summary>
    public bool IncludeStopStrInOutput { get; init; }
    public int MaxTokens { get; init; } = 16;
    public int MinTokens { get; init; } = 0;
    public bool IgnoreEos { get; init; }
    /// <summary>Number of top log-probabilities to return per generated token; null = none.</summary>
    public int? Logprobs { get; init; }
    /// <summary>Number of top log-probabilities to return per prompt token; null = none.</summary>
    public int? PromptLogprobs { get; init; }
    public bool SkipSpecialTokens { get; init; } = true;
    /// <summary>
    /// OpenAI's logit_bias: token id -> value added to its logit (in [-100, 100]) after penalties and the min_tokens
    /// mask; null = none. The engine checks the ids against its vocabulary.
    /// </summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    public bool IsGreedy => Temperature < 1e-5f;

    /// <summary>Throws <see cref="ArgumentException"/> whose ParamName is the offending field (snake_case, as in the API).</summary>
    public SamplingParams Validate()
    {
        Check(N >= 1 && N <= 128, "n", $"n must be between 1 and 128, got {N}.");
        Check(float.IsFinite(Temperature) && Temperature >= 0, "temperature", $"temperature must be >= 0, got {Temperature}.");
        Check(float.IsFinite(TopP) && TopP > 0 && TopP <= 1, "top_p", $"top_p must be in (0, 1], got {TopP}.");
        Check(TopK >= -1, "top_k", $"top_k must be -1 (disable), 0 (disable) or a positive integer, got {TopK}.");
        Check(float.IsFinite(MinP) && MinP >= 0 && MinP <= 1, "min_p", $"min_p must be in [0, 1], got {MinP}.");
        Check(float.IsFinite(PresencePenalty) && PresencePenalty >= -2 && PresencePenalty <= 2, "presence_penalty", $"presence_penalty must be in [-2, 2], got {PresencePenalty}.");
        Check(float.IsFinite(FrequencyPenalty) && FrequencyPenalty >= -2 && FrequencyPenalty <= 2, "frequency_penalty", $"frequency_penalty must be in [-2, 2], got {FrequencyPenalty}.");
        Check(float.IsFinite(RepetitionPenalty) && RepetitionPenalty > 0 && RepetitionPenalty <= 2, "repetition_penalty", $"repetition_penalty must be in (0, 2], got {RepetitionPenalty}.");
        Check(MaxTokens >= 1, "max_tokens", $"max_tokens must be at least 1, got {MaxTokens}.");
        Check(MinTokens >= 0 && MinTokens <= MaxTokens, "min_tokens", $"min_tokens must be in [0, max_tokens], got {MinTokens}.");
        Check(Logprobs is null || (Logprobs >= 0 && Logprobs <= 20), "logprobs", $"logprobs must be in [0, 20], got {Logprobs}.");
        Check(PromptLogprobs is null || (PromptLogprobs >= 0 && PromptLogprobs <= 20), "prompt_logprobs", $"prompt_logprobs must be in [0, 20], got {PromptLogprobs}.");
        Check(Stop.Count <= 16 && Stop.All(s => !string.IsNullOrEmpty(s)), "stop", "stop must hold at most 16 non-empty strings.");
        Check(StopTokenIds.All(t => t >= 0), "stop_token_ids", "stop_token_ids must be non-negative.");
        CheckLogitBias();
        return this;
    }

    /// <summary>Most logit_bias entries one request may carry (OpenAI's limit).</summary>
    public const int MaxLogitBiasEntries = 300;

    private void CheckLogitBias()
    {
        if (LogitBias is not { } bias) return;
        Check(bias.Count <= MaxLogitBiasEntries, "logit_bias", $"logit_bias may hold at most {MaxLogitBiasEntries} entries, got {bias.Count}.");
        foreach (var (id, value) in bias)
        {
            Check(id >= 0, "logit_bias", $"logit_bias token id {id} is negative.");
            Check(float.IsFinite(value) && value >= -100 && value <= 100, "logit_bias",
                $"logit_bias for token {id} must be in [-100, 100], got {value}.");
        }
    }

    private static void Check(bool ok, string field, string message)
    {
        if (!ok) throw new ArgumentException(message, field);
    }
}
