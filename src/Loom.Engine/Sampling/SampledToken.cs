using Loom.Core.Sampling;

namespace Loom.Engine.Sampling;

/// <summary>
/// One sampling result: the chosen token and, when the request asked for them, its log-probabilities. A row that could
/// not be sampled (the model's logits were NaN, a sampler fault) carries <see cref="Fault"/>: the engine ends that one
/// request with the error and ignores <see cref="TokenId"/>.
/// </summary>
public readonly record struct SampledToken(int TokenId, TokenLogprob? Logprobs)
{
    public Exception? Fault { get; init; }

    public static SampledToken Failed(Exception fault) => new(0, null) { Fault = fault };
}
