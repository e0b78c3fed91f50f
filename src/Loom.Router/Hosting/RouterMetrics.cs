using Loom.Router.Routing;
using Prometheus;

namespace Loom.Router.Hosting;

/// <summary>
/// The router's own Prometheus metrics (its own registry, so several routers in one process never share counters):
/// requests per replica, routing decisions by reason, the prefix match each routed prompt was expected to hit, and
/// retries by cause.
/// </summary>
public sealed class RouterMetrics
{
    private static readonly double[] MatchBuckets = [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768];

    private readonly Counter _requests, _decisions, _retries;
    private readonly Histogram _prefixMatch;

    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    public RouterMetrics()
    {
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        _requests = f.CreateCounter("loom_router_requests_total", "Requests sent to each replica (retries count once per replica tried).", "replica");
        _decisions = f.CreateCounter("loom_router_routing_decisions_total", "Replica picks by reason.", "reason");
        _retries = f.CreateCounter("loom_router_retries_total", "Requests sent again to another replica, by cause.", "cause");
        _prefixMatch = f.CreateHistogram("loom_router_prefix_match_tokens", "Prompt tokens the picked replica was expected to hold in its prefix cache.",
            new HistogramConfiguration { Buckets = MatchBuckets });
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
