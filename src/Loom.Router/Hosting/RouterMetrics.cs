using Loom.Router.Routing;
using Prometheus;

namespace Loom.Router.Hosting;

/// <summary>
/// The router's own Prometheus metrics (its own registry, so several routers in one process never share counters):
/// requests per replica, routing decisions by reason, the prefix match each routed prompt was expected to hit, retries
/// by cause, the replica set's size, KV-event snapshots and sequence gaps per replica, and failed discovery calls.
/// </summary>
public sealed class RouterMetrics
{
    private static readonly double[] MatchBuckets = [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768];

    private readonly Counter _requests, _decisions, _retries, _kvSnapshots, _kvGaps, _discoveryErrors;
    private readonly Histogram _prefixMatch;
    private readonly Gauge _replicas;

    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    public RouterMetrics()
    {
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        _requests = f.CreateCounter("loom_router_requests_total", "Requests sent to each replica (retries count once per replica tried).", "replica");
        _decisions = f.CreateCounter("loom_router_routing_decisions_total", "Replica picks by reason.", "reason");
        _retries = f.CreateCounter("loom_router_retries_total", "Requests sent again to another replica, by cause.", "cause");
        _prefixMatch = f.CreateHistogram("loom_router_prefix_match_tokens", "Prompt tokens the picked replica was expected to hold in its prefix cache.",
            new HistogramConfiguration { Buckets = MatchBuckets });
        _replicas = f.CreateGauge("loom_router_replicas", "Replicas in the router's set (the --replica list, or the discovered pods that are Running and Ready).");
        _kvSnapshots = f.CreateCounter("loom_router_kv_event_snapshots_total",
            "KV cache snapshots taken from each replica: one per event-stream connection, plus one per sequence gap.", "replica");
        _kvGaps = f.CreateCounter("loom_router_kv_event_gaps_total", "Jumps in each replica's KV event sequence (batches lost), each repaired by a snapshot.", "replica");
        _discoveryErrors = f.CreateCounter("loom_router_discovery_errors_total", "Failed list or watch calls to the Kubernetes API (each retried with backoff).");
    }

    public void SetReplicaCount(int count) => _replicas.Set(count);

    public void ObserveKvSnapshot(string replica) => _kvSnapshots.WithLabels(replica).Inc();

    public void ObserveKvGap(string replica) => _kvGaps.WithLabels(replica).Inc();

    public void ObserveDiscoveryError() => _discoveryErrors.Inc();

    /// <summary>A replica left the set: drop its KV-event series, so pod churn does not grow the metrics without bound.</summary>
    public void ForgetKvEventsOf(string replica)
    {
        _kvSnapshots.RemoveLabelled(replica);
        _kvGaps.RemoveLabelled(replica);
    }

    public void ObserveDecision(string replica, RoutingDecision decision, int blockSize, bool promptKnown)
    {
        _requests.WithLabels(replica).Inc();
        _decisions.WithLabels(ReasonLabel(decision.Reason)).Inc();
        if (promptKnown) _prefixMatch.Observe(decision.MatchedBlocks * blockSize);
    }

    public void ObserveRetry(string cause) => _retries.WithLabels(cause).Inc();

    /// <summary>snake_case, as Prometheus labels usually are.</summary>
    public static string ReasonLabel(RoutingReason reason) => reason switch
    {
        RoutingReason.Single => "single",
        RoutingReason.Imbalance => "imbalance",
        RoutingReason.PrefixAffinity => "prefix_affinity",
        RoutingReason.Score => "score",
        RoutingReason.LoadOnly => "load_only",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, null),
    };
}
