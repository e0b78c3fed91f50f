using Loom.Router.Proxy;
using Loom.Router.Routing;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Loom.Router.Hosting;

/// <summary>YARP's routes and cluster for the router: the OpenAI API and tokenizer endpoints, proxied to every replica.</summary>
internal static class ProxyConfig
{
    public const string ClusterId = "replicas";

    /// <summary>Everything under /v1 (chat, completions, models) plus /tokenize and /detokenize goes to the replicas.</summary>
    public static RouteConfig[] Routes() =>
    [
        Route("openai", "/v1/{**rest}"),
        Route("tokenize", "/tokenize"),
        Route("detokenize", "/detokenize"),
    ];

    /// <summary>The cluster over <paramref name="replicas"/>, by their stable ids (YARP keeps the state of a destination whose id stays).</summary>
    public static ClusterConfig Cluster(RouterOptions options, IEnumerable<Replica> replicas) => new()
    {
        ClusterId = ClusterId,
        LoadBalancingPolicy = options.YarpPolicyName,
        Destinations = replicas.ToDictionary(r => r.Id, r => new DestinationConfig { Address = r.Address }),
        HealthCheck = new HealthCheckConfig
        {
            // Not YARP's default HealthyOrPanic (all replicas when none is healthy): with none healthy the router says so (503).
            AvailableDestinationsPolicy = "HealthyAndUnknown",
            Active = new ActiveHealthCheckConfig
            {
                Enabled = true,
                Interval = options.HealthCheckInterval,
                Timeout = options.HealthCheckTimeout,
                Policy = "ConsecutiveFailures",
                Path = "/health",
            },
            Passive = new PassiveHealthCheckConfig
            {
                Enabled = true,
                Policy = ConnectFailureHealthPolicy.PolicyName,
                ReactivationPeriod = options.ReactivationPeriod,
            },
        },
        // One failed probe ejects a replica (YARP's default waits for two): a dead replica should stop getting traffic fast.
        Metadata = new Dictionary<string, string> { ["ConsecutiveFailuresHealthPolicy.Threshold"] = "1" },
        HttpRequest = new ForwarderRequestConfig { ActivityTimeout = options.ReplicaActivityTimeout },
    };

    private static RouteConfig Route(string id, string path) => new() { RouteId = id, ClusterId = ClusterId, Match = new RouteMatch { Path = path } };
}
