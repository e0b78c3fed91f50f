using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Loom.Bench.Metrics;
using Loom.Bench.Serving;

namespace Loom.Bench.Reporting;

/// <summary>What a serve run was pointed at and called, for the result file.</summary>
public sealed record RunDescription(string Label, string EndpointType, string ModelId, string? TokenizerId, string DatasetName,
    IReadOnlyDictionary<string, string> Conditions);

/// <summary>
/// The result file of one serving run, with vLLM's keys (so its scripts read it): duration, completed, failed,
/// request_throughput, output_throughput, total_token_throughput, request_goodput, {mean,median,std,pNN}_{ttft,tpot,itl,e2el}_ms,
/// input_lens, output_lens, ttfts, itls, generated_texts, errors … plus "conditions" (Loom's addition).
/// </summary>
public static class ResultJson
{
    public static readonly JsonSerializerOptions WriteOptions = new() { WriteIndented = true };

    public static JsonObject Build(ServeRunResult run, RunDescription description)
    {
        var m = run.Metrics;
        var o = run.Options;
        var json = new JsonObject
        {
            ["date"] = run.StartedAt.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture),
            ["endpoint_type"] = description.EndpointType,
            ["backend"] = description.EndpointType,
            ["label"] = description.Label,
            ["model_id"] = description.ModelId,
            ["tokenizer_id"] = description.TokenizerId,
            ["dataset_name"] = description.DatasetName,
            ["num_prompts"] = run.Requests.Count,
            // vLLM writes the string "inf" because JSON has no infinity.
            ["request_rate"] = double.IsPositiveInfinity(o.RequestRate) ? "inf" : o.RequestRate,
            ["burstiness"] = double.IsPositiveInfinity(o.Burstiness) ? "inf" : o.Burstiness,
            ["max_concurrency"] = o.MaxConcurrency,
            ["goodput"] = o.Goodput.IsEmpty ? null : GoodputObject(o.Goodput),
            ["conditions"] = new JsonObject(description.Conditions.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["duration"] = run.DurationS,
            ["completed"] = m.Completed,
            ["failed"] = m.Failed,
            ["total_input_tokens"] = m.TotalInput,
            ["total_output_tokens"] = m.TotalOutput,
            ["request_throughput"] = m.RequestThroughput,
            ["request_goodput"] = m.RequestGoodput,
            ["output_throughput"] = m.OutputThroughput,
            ["total_token_throughput"] = m.TotalTokenThroughput,
            ["max_output_tokens_per_s"] = m.MaxOutputTokensPerS,
            ["max_concurrent_requests"] = m.MaxConcurrentRequests, // vLLM's per-second bucket figure
            ["peak_concurrent_requests"] = m.PeakConcurrentRequests, // Loom's: the most in flight at one instant
            ["resent_requests"] = m.ResentRequests,
        };
        AddMetric(json, "ttft", m.Ttft);
        AddMetric(json, "tpot", m.Tpot);
        AddMetric(json, "itl", m.Itl);
        AddMetric(json, "e2el", m.E2el);
        json["input_lens"] = Array(run.Outcomes.Select(x => (JsonNode?)x.PromptLen));
        json["output_lens"] = Array(m.ActualOutputLens.Select(x => (JsonNode?)x));
        json["ttfts"] = Array(run.Outcomes.Select(x => (JsonNode?)x.Ttft));
        json["itls"] = Array(run.Outcomes.Select(x => (JsonNode?)Array(x.Itl.Select(g => (JsonNode?)g))));
        json["generated_texts"] = Array(run.Outcomes.Select(x => (JsonNode?)x.GeneratedText));
        json["errors"] = Array(run.Outcomes.Select(x => (JsonNode?)x.Error));
        return json;
    }

    /// <summary>vLLM's file name: {label}-{rate}qps[-concurrency{n}]-{model}-{date}.json.</summary>
    public static string DefaultFileName(RunDescription description, ServeRunResult run)
    {
        string rate = double.IsPositiveInfinity(run.Options.RequestRate) ? "inf" : run.Options.RequestRate.ToString(CultureInfo.InvariantCulture);
        string concurrency = run.Options.MaxConcurrency is { } c ? $"-concurrency{c}" : "";
        string model = description.ModelId.TrimEnd('/').Split('/', '\\')[^1];
        return Sanitize($"{description.Label}-{rate}qps{concurrency}-{model}-{run.StartedAt.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}.json");
    }

    public static void Write(JsonObject result, string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, result.ToJsonString(WriteOptions));
    }

    private static void AddMetric(JsonObject json, string name, MetricSummary summary)
    {
        json[$"mean_{name}_ms"] = summary.MeanMs;
        json[$"median_{name}_ms"] = summary.MedianMs;
        json[$"std_{name}_ms"] = summary.StdMs;
        foreach (var p in summary.Percentiles) json[$"p{p.Word}_{name}_ms"] = p.ValueMs;
    }

    private static JsonObject GoodputObject(GoodputSlo slo)
    {
        var obj = new JsonObject();
        if (slo.TtftMs is { } t) obj["ttft"] = t;
        if (slo.TpotMs is { } p) obj["tpot"] = p;
        if (slo.E2elMs is { } e) obj["e2el"] = e;
        return obj;
    }

    private static JsonArray Array(IEnumerable<JsonNode?> items) => new([.. items]);

    private static string Sanitize(string name) => string.Concat(name.Select(ch => Path.GetInvalidFileNameChars().Contains(ch) || ch == ' ' ? '_' : ch));
}
