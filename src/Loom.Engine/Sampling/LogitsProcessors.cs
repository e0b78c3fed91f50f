using Loom.Core.Sampling;

namespace Loom.Engine.Sampling;

/// <summary>Builds a sequence's processors from its (data-only) <see cref="SamplingParams"/>, in vLLM's order.</summary>
internal static class LogitsProcessors
{
    public static ILogitsProcessor[] For(SamplingParams p, ReadOnlySpan<int> promptTokenIds, IReadOnlyCollection<int> eosTokenIds)
    {
        var processors = new List<ILogitsProcessor>(3);
        if (p.MinTokens > 0)
        {
            int[] masked = [.. (p.IgnoreEos ? [] : eosTokenIds).Concat(p.StopTokenIds).Distinct()];
            if (masked.Length > 0) processors.Add(new MinTokensProcessor(p.MinTokens, masked));
        }
        if (PenaltyProcessor.AnyActive(p.RepetitionPenalty, p.FrequencyPenalty, p.PresencePenalty))
            processors.Add(new PenaltyProcessor(p.RepetitionPenalty, p.FrequencyPenalty, p.PresencePenalty, promptTokenIds));
        if (p.LogitBias is { Count: > 0 } bias) processors.Add(new LogitBiasProcessor(bias));
        return [.. processors];
    }
}
