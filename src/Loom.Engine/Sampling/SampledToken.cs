using Loom.Core.Sampling;
namespace Loom.Engine.Sampling;

/// <summary>One sampling result: the chosen token and, when the request asked for them, its log-probabilities.</summary>
public readonly record struct SampledToken(int TokenId, TokenLogprob? Logprobs);
