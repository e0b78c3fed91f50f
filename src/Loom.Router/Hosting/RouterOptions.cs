using Loom.Router.Routing;
using Microsoft.Extensions.Logging;

namespace Loom.Router.Hosting;

/// <summary>Everything <c>loom router</c> is configured by.</summary>
public sealed record RouterOptions
{
    /// <summary>Base URLs of the Loom (or vLLM) replicas, e.g. http://10.0.0.5:8000; empty with <see cref="Discovery"/>.</summary>
    public IReadOnlyList<string> Replicas { get; init; } = [];

    /// <summary>--service-discovery: the replicas are the Ready pods of a label selector instead of a fixed list.</summary>
    public Discovery.ServiceDiscoveryOptions? Discovery { get; init; }

    public string Host { get; init; } = "127.0.0.1";

    /// <summary>0 = any free port.</summary>
    public int Port { get; init; } = 8080;

    /// <summary>The served model's directory (tokenizer.json, tokenizer_config.json); null = load-only routing.</summary>
    public string? ModelDirectory { get; init; }

    /// <summary>Tokens per KV block on the replicas; null = read from their cache_config_info.</summary>
    public int? BlockSize { get; init; }

    public RoutingPolicyOptions Policy { get; init; } = new();

    /// <summary>SGLang's --policy words: cache_aware (the inference-aware policy), round_robin or random (YARP's own, for comparison).</summary>
    public string LoadBalancing { get; init; } = "cache_aware";

    /// <summary>YARP's name of the <see cref="LoadBalancing"/> policy.</summary>
    public string YarpPolicyName => LoadBalancing switch
    {
        "cache_aware" => Routing.InferenceLoadBalancingPolicy.PolicyName,
        "round_robin" => Yarp.ReverseProxy.LoadBalancing.LoadBalancingPolicies.RoundRobin,
        "random" => Yarp.ReverseProxy.LoadBalancing.LoadBalancingPolicies.Random,
        _ => throw new ArgumentException($"--policy must be cache_aware, round_robin or random, got '{LoadBalancing}'.", "--policy"),
    };

    /// <summary>
    /// --kv-events: follow the KV cache events of every replica that streams them (Loom replicas with --kv-port), so
    /// its prefix index is exactly what it caches; replicas that stream none keep the routed-prompt index.
    /// </summary>
    public bool KvEvents { get; init; } = true;

    /// <summary>Blocks each replica's prefix index remembers.</summary>
    public int PrefixIndexCapacityBlocks { get; init; } = 1 << 20;

    public TimeSpan MetricsPollInterval { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan HealthCheckInterval { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan HealthCheckTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a replica that refused a connection or is draining stays out before it is tried again.</summary>
    public TimeSpan ReactivationPeriod { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest silence from a replica before a request to it fails (a long non-streamed generation is silent).</summary>
    public TimeSpan ReplicaActivityTimeout { get; init; } = TimeSpan.FromMinutes(10);

    public LogLevel LogLevel { get; init; } = LogLevel.Warning;

    public void Validate()
    {
        if (Discovery is { } discovery)
        {
            if (Replicas is { Count: > 0 }) throw new ArgumentException("Give either --replica URLs or --service-discovery, not both.", "--replica");
            discovery.Validate();
        }
        else if (Replicas is null || Replicas.Count == 0) throw new ArgumentException("At least one --replica URL (or --service-discovery) is required.", "--replica");
        foreach (var replica in Replicas)
            if (!Uri.TryCreate(replica, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new ArgumentException($"--replica '{replica}' is not an http(s) URL.", "--replica");
        if (Replicas.Distinct(StringComparer.OrdinalIgnoreCase).Count() != Replicas.Count)
            throw new ArgumentException("Each --replica must be given once.", "--replica");
        if (Port is < 0 or > 65535) throw new ArgumentException($"--port must lie in [0, 65535], got {Port}.", "--port");
        if (BlockSize is < 1) throw new ArgumentException($"--block-size must be at least 1, got {BlockSize}.", "--block-size");
        if (PrefixIndexCapacityBlocks < 1) throw new ArgumentException("The prefix index capacity must be at least 1 block.", "--prefix-index-blocks");
        foreach (var (name, value) in new[] { ("--metrics-poll-interval", MetricsPollInterval), ("--health-check-interval", HealthCheckInterval),
                     ("--health-check-timeout", HealthCheckTimeout), ("--reactivation-period", ReactivationPeriod) })
            if (value <= TimeSpan.Zero) throw new ArgumentException($"{name} must be positive, got {value.TotalSeconds}s.", name);
        _ = YarpPolicyName;
        Policy.Validate();
    }
}
