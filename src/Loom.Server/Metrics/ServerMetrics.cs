using Loom.Core.Requests;
using Loom.Engine;
using Loom.Server.Api;
using Prometheus;

namespace Loom.Server.Metrics;

/// <summary>
/// Prometheus metrics under vLLM's names with the "loom_" prefix (vllm:num_requests_running -> loom_num_requests_running:
/// Prometheus reserves colons for recording rules and prometheus-net rejects them).
/// Each server has its own registry, so several servers in one process (tests) never share counters.
/// Engine gauges and counters are read from <see cref="IEngineClient.GetStats"/> at scrape time;
/// latency histograms are observed by the endpoints as requests finish.
/// </summary>
public sealed class ServerMetrics
{
    private static readonly double[] LatencyBuckets =
        [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160];

    private readonly Gauge _running, _waiting, _kvUsage, _prefixHitRate, _engineDead, _cacheConfig, _heldKv, _kvEventsPort;
    private readonly Counter _prefixQueries, _prefixHits, _promptTokens, _generationTokens;
    private readonly Counter _kvPulls, _kvPulledBlocks, _kvPulledBytes;
    private readonly Counter _requestSuccess;
    private readonly Counter _specDrafts, _specDraftTokens, _specAccepted, _specAcceptedPerPosition;
    private readonly Gauge _specAcceptanceRate, _specMeanAcceptanceLength;
    private readonly Histogram _ttft, _tpot, _e2e;

    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    /// <param name="readStats">The engine's counters (null while the model loads).</param>
    /// <param name="engineDead">Whether the engine loop has stopped on a fault.</param>
    /// <param name="kvEventsPort">The port streaming KV cache events, null while none does (routers read it to follow them).</param>
    public ServerMetrics(Func<EngineStats?> readStats, Func<bool>? engineDead = null, Func<int?>? kvEventsPort = null)
    {
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        _running = f.CreateGauge("loom_num_requests_running", "Requests in the engine's running batch.");
        _waiting = f.CreateGauge("loom_num_requests_waiting", "Requests waiting to be scheduled.");
        _heldKv = f.CreateGauge("loom_kv_held_requests", "Finished prefill requests whose KV blocks are held for a decode instance (under a lease).");
        _kvUsage = f.CreateGauge("loom_kv_cache_usage_perc", "Fraction of KV cache blocks in use (1 = full).");
        _prefixHitRate = f.CreateGauge("loom_prefix_cache_hit_rate", "Prefix cache hits / queries since start (tokens).");
        // vLLM's cache_config_info: an info gauge (value 1) whose labels carry the KV cache layout a router needs.
        _cacheConfig = f.CreateGauge("loom_cache_config_info", "KV cache configuration (value 1; the labels hold it).", "block_size", "num_gpu_blocks");
        _kvEventsPort = f.CreateGauge("loom_kv_events_port", "Port of the gRPC KV service that streams this replica's KV cache events; 0 = none.");
        _engineDead = f.CreateGauge("loom_engine_dead", "1 once the engine loop has stopped on a fault (restart the server), else 0.");
        _prefixQueries = f.CreateCounter("loom_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.");
        _prefixHits = f.CreateCounter("loom_prefix_cache_hits_total", "Prompt tokens found in the prefix cache.");
        _promptTokens = f.CreateCounter("loom_prompt_tokens_total", "Prompt tokens processed.");
        _generationTokens = f.CreateCounter("loom_generation_tokens_total", "Tokens generated.");
        _kvPulls = f.CreateCounter("loom_kv_pulls_total", "Requests whose prompt KV was pulled from a prefill instance (P/D decode side).");
        _kvPulledBlocks = f.CreateCounter("loom_kv_pulled_blocks_total", "KV blocks pulled from prefill instances (those the local prefix cache lacked).");
        _kvPulledBytes = f.CreateCounter("loom_kv_pulled_bytes_total", "Bytes of KV pulled from prefill instances, in the cache's own dtype.");
        _requestSuccess = f.CreateCounter("loom_request_success_total", "Requests finished, by finish reason.", "finished_reason");
        _specDrafts = f.CreateCounter("loom_spec_decode_num_drafts_total", "Speculative verification steps of a request (vLLM's spec_decode_num_drafts).");
        _specDraftTokens = f.CreateCounter("loom_spec_decode_num_draft_tokens_total", "Draft tokens scored by the target.");
        _specAccepted = f.CreateCounter("loom_spec_decode_num_accepted_tokens_total", "Draft tokens the target accepted.");
        _specAcceptedPerPosition = f.CreateCounter("loom_spec_decode_num_accepted_tokens_per_pos_total",
            "Draft tokens accepted, by position in the draft (0 = first).", "position");
        _specAcceptanceRate = f.CreateGauge("loom_spec_decode_draft_acceptance_rate", "Accepted / draft tokens since start.");
        _specMeanAcceptanceLength = f.CreateGauge("loom_spec_decode_mean_acceptance_length",
            "Tokens emitted per verification step since start: 1 + accepted / drafts.");
        var buckets = new HistogramConfiguration { Buckets = LatencyBuckets };
        _ttft = f.CreateHistogram("loom_time_to_first_token_seconds", "Time from arrival to the first generated token.", buckets);
        _tpot = f.CreateHistogram("loom_time_per_output_token_seconds", "Mean time between output tokens of a request.", buckets);
        _e2e = f.CreateHistogram("loom_e2e_request_latency_seconds", "Time from arrival to the last token.", buckets);
        Registry.AddBeforeCollectCallback(() =>
        {
            _engineDead.Set(engineDead?.Invoke() == true ? 1 : 0);
            _kvEventsPort.Set(kvEventsPort?.Invoke() ?? 0);
            Refresh(readStats());
        });
    }

    /// <summary>Records one finished engine request (one prompt; all its n samples).</summary>
    public void ObserveRequest(RequestTiming timing, FinishReason finishReason)
    {
        _requestSuccess.WithLabels(OpenAiWords.Of(finishReason)).Inc();
        if (timing.FirstTokenSeconds is { } ttft) _ttft.Observe(ttft);
        if (timing.TimePerOutputTokenSeconds is { } tpot) _tpot.Observe(tpot);
        _e2e.Observe(timing.ElapsedSeconds);
    }

    private void Refresh(EngineStats? stats)
    {
        if (stats is null) return;
        _running.Set(stats.NumRunning);
        if (stats.BlockSize > 0) _cacheConfig.WithLabels(stats.BlockSize.ToString(), stats.NumBlocksTotal.ToString()).Set(1);
        _waiting.Set(stats.NumWaiting);
        _heldKv.Set(stats.NumHeldRequests);
        _kvUsage.Set(stats.NumBlocksTotal == 0 ? 0 : (double)stats.NumBlocksUsed / stats.NumBlocksTotal);
        _prefixHitRate.Set(stats.PrefixCacheQueries == 0 ? 0 : (double)stats.PrefixCacheHits / stats.PrefixCacheQueries);
        _prefixQueries.IncTo(stats.PrefixCacheQueries);
        _prefixHits.IncTo(stats.PrefixCacheHits);
        _promptTokens.IncTo(stats.PromptTokensTotal);
        _generationTokens.IncTo(stats.GenerationTokensTotal);
        _kvPulls.IncTo(stats.KvPulled.Requests);
        _kvPulledBlocks.IncTo(stats.KvPulled.Blocks);
        _kvPulledBytes.IncTo(stats.KvPulled.Bytes);
        if (stats.SpecDecoding is { } spec) Refresh(spec);
    }

    private void Refresh(Core.Scheduling.SpecDecodingSnapshot spec)
    {
        _specDrafts.IncTo(spec.NumDrafts);
        _specDraftTokens.IncTo(spec.NumDraftTokens);
        _specAccepted.IncTo(spec.NumAcceptedTokens);
        for (int i = 0; i < spec.AcceptedPerPosition.Length; i++)
            _specAcceptedPerPosition.WithLabels(i.ToString(System.Globalization.CultureInfo.InvariantCulture)).IncTo(spec.AcceptedPerPosition[i]);
        _specAcceptanceRate.Set(spec.AcceptanceRate);
        _specMeanAcceptanceLength.Set(spec.MeanAcceptanceLength);
    }
}
