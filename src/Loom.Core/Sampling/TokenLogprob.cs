namespace Loom.Core.Sampling;

/// <summary>One token's log-probability and the top alternatives.</summary>
public sealed record TokenLogprob(int TokenId, float Logprob, IReadOnlyList<(int TokenId, float Logprob)> Top);
