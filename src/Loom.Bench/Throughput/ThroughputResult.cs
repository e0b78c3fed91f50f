using System.Globalization;
using System.Text.Json.Nodes;
using Loom.Bench.Reporting;

namespace Loom.Bench.Throughput;

/// <summary>
/// One offline throughput run (vLLM's `bench throughput`): every request queued at once, timed from the first
/// submission to the last finished request. Token counts are what the engine actually produced, not what was asked.
/// </summary>
/// <param name="CachedPromptTokens">Prompt tokens served from the prefix cache during the timed run.</param>
public sealed record ThroughputResult(
    double ElapsedS,
    int NumRequests,
    long TotalPromptTokens,
    long TotalOutputTokens,
    long CachedPromptTokens,
    long NumPreemptions,
    DateTimeOffset StartedAt)
{
    /// <summary>Speculative decoding counters of the timed run; null when speculation is off.</summary>
    public Core.Scheduling.SpecDecodingSnapshot? SpecDecoding { get; init; }

    public long TotalNumTokens => TotalPromptTokens + TotalOutputTokens;
    public double RequestsPerSecond => NumRequests / ElapsedS;
    public double TokensPerSecond => TotalNumTokens / ElapsedS;
    public double OutputTokensPerSecond => TotalOutputTokens / ElapsedS;

    /// <summary>
    /// vLLM's --output-json keys (elapsed_time, num_requests, total_num_tokens, requests_per_second, tokens_per_second)
    /// plus the output token rate, the token split, cache and preemption counts, and the conditions of the run.
    /// </summary>
    public JsonObject ToJson(IReadOnlyDictionary<string, string> conditions) => new()
    {
        ["date"] = StartedAt.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture),
        ["elapsed_time"] = ElapsedS,
        ["num_requests"] = NumRequests,
        ["total_num_tokens"] = TotalNumTokens,
        ["requests_per_second"] = RequestsPerSecond,
        ["tokens_per_second"] = TokensPerSecond,
        ["output_tokens_per_second"] = OutputTokensPerSecond,
        ["total_prompt_tokens"] = TotalPromptTokens,
        ["total_output_tokens"] = TotalOutputTokens,
        ["cached_prompt_tokens"] = CachedPromptTokens,
        ["num_preemptions"] = NumPreemptions,
        ["spec_decode"] = SpecDecoding is { } spec ? new JsonObject
        {
            ["num_drafts"] = spec.NumDrafts,
            ["num_draft_tokens"] = spec.NumDraftTokens,
            ["num_accepted_tokens"] = spec.NumAcceptedTokens,
            ["draft_acceptance_rate"] = spec.AcceptanceRate,
            ["mean_acceptance_length"] = spec.MeanAcceptanceLength,
            ["num_accepted_tokens_per_pos"] = new JsonArray([.. spec.AcceptedPerPosition.Select(n => (JsonNode?)n)]),
        } : null,
        ["conditions"] = new JsonObject(conditions.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
    };

    public void Save(string path, IReadOnlyDictionary<string, string> conditions) => ResultJson.Write(ToJson(conditions), path);
}
