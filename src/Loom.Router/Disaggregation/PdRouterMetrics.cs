using Prometheus;

namespace Loom.Router.Disaggregation;

/// <summary>
/// The P/D router's own Prometheus metrics (its own registry): requests per replica and role, picks by role and reason,
/// and the prefix match each pick expected (on the decode side, prompt tokens the decoder need not pull). The bytes
/// actually pulled are the decode replica's to count (loom_kv_pulled_bytes_total on its /metrics).
/// </summary>
public sealed class PdRouterMetrics
{
    private static readonly double[] MatchBuckets = [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768];

    private readonly Counter _requests, _decisions;
    private readonly Histogram _prefixMatch;

    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    public PdRouterMetrics()
    {
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        _requests = f.CreateCounter("loom_router_pd_requests_total", "Requests sent to each replica, by role (prefill or decode).", "role", "replica");
        _decisions = f.CreateCounter("loom_router_pd_routing_decisions_total", "Replica picks by role and reason.", "role", "reason");
        _prefixMatch = f.CreateHistogram("loom_router_pd_prefix_match_tokens",
            "Prompt tokens the picked replica was expected to hold in its prefix cache (decode: tokens not pulled).",
            new HistogramConfiguration { Buckets = MatchBuckets, LabelNames = ["role"] });
    }

    public void ObserveDecision(PdRole role, PdAssignment assignment, int blockSize, bool promptKnown)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        string label = RoleLabel(role);
        _requests.WithLabels(label, assignment.Address).Inc();
        _decisions.WithLabels(label, assignment.Reason).Inc();
        if (promptKnown) _prefixMatch.WithLabels(label).Observe(assignment.MatchedBlocks * blockSize);
    }

    public static string RoleLabel(PdRole role) => role == PdRole.Prefill ? "prefill" : "decode";
}
