namespace Loom.Bench.Throughput;

/// <summary>One request of an offline run: prompt token ids and the exact number of tokens to generate.</summary>
public sealed record OfflineRequest(int[] PromptTokenIds, int OutputLen);
