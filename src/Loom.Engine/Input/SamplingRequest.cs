namespace Loom.Engine.Input;

/// <summary>
/// The sampling fields a front end received, in engine terms, before defaults: null means absent (generation_config's
/// value where it has one, else vLLM's). <see cref="InputProcessor.BuildSampling"/> turns it into SamplingParams.
/// </summary>
public sealed record SamplingRequest
{
    /// <summary>The field the prompt came from ("prompt", or "messages" for a conversation), for errors.</summary>
    public string PromptParam { get; init; } = "prompt";
    public int? MaxTokens { get; init; }
    /// <summary>The field max_tokens came from (chat's "max_completion_tokens" too), for errors.</summary>
    public string MaxTokensParam { get; init; } = "max_tokens";
    /// <summary>max_tokens when neither the request nor generation_config gives one; null = the rest of the context window.</summary>
    public int? FallbackMaxTokens { get; init; }
    public int? N { get; init; }
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public int? TopK { get; init; }
    public float? MinP { get; init; }
    public float? PresencePenalty { get; init; }
    public float? FrequencyPenalty { get; init; }
    public float? RepetitionPenalty { get; init; }
    public long? Seed { get; init; }
    public IReadOnlyList<string>? Stop { get; init; }
    public IReadOnlyList<int>? StopTokenIds { get; init; }
    public bool? IgnoreEos { get; init; }
    public int? MinTokens { get; init; }
    public bool? IncludeStopStrInOutput { get; init; }
    public bool? SkipSpecialTokens { get; init; }
    public int? Logprobs { get; init; }
    public int? PromptLogprobs { get; init; }
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
}
