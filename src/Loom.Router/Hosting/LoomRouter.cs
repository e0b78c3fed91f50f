using Loom.Hosting;
using Loom.Router.Discovery;
using Loom.Router.KvEvents;
using Loom.Router.Proxy;
using Loom.Router.Routing;
using Loom.Router.Signals;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Transforms;

namespace Loom.Router.Hosting;

/// <summary>
/// <c>loom router</c>, started in-process: a YARP reverse proxy in front of Loom replicas that serves the same OpenAI
/// API (streams pass through untouched), picks a replica per request with <see cref="InferenceLoadBalancingPolicy"/>,
/// ejects dead or draining replicas (active /health probes, passive connect-failure detection) and readmits them when
/// healthy, and answers its own /health and /metrics. Each replica's prefix index follows its KV cache events when it
/// streams them (<see cref="KvEventFollower"/>), else learns the prompts routed there. The replicas are a fixed list
/// (--replica) or the Ready pods of a label selector (--service-discovery), which join and leave while it runs.
/// </summary>
public sealed class LoomRouter : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ReplicaSignalPoller _signals;
    private readonly ReplicaSet _set;
    private readonly PodWatcher? _pods; // with --service-discovery
    private int _disposed;

    private LoomRouter(WebApplication app, ReplicaSignalPoller signals, ReplicaSet set, PodWatcher? pods, ReplicaDirectory replicas, RouterMetrics metrics)
    {
        _app = app;
        _signals = signals;
        _set = set;
        _pods = pods;
        Replicas = replicas;
        Metrics = metrics;
        BaseUrl = app.Urls.First().TrimEnd('/');
    }

    /// <summary>e.g. http://127.0.0.1:41234 (no trailing slash).</summary>
    public string BaseUrl { get; }

    /// <summary>The replicas routed to now (they change while the router runs with --service-discovery).</summary>
    public ReplicaDirectory Replicas { get; }
    public RouterMetrics Metrics { get; }

    /// <summary>Pod lists completed so far with --service-discovery (0 without, or while the API server is unreachable).</summary>
    public long NumPodLists => _pods?.NumLists ?? 0;

    /// <summary>The follower of the i-th --replica's KV cache events; null with --kv-events false.</summary>
    public KvEventFollower? KvEventsOf(int i) => KvEventsOf(ReplicaDirectory.DestinationId(i));

    /// <summary>The follower of replica <paramref name="id"/>'s KV cache events; null with --kv-events false or once it left.</summary>
    public KvEventFollower? KvEventsOf(string id) => _set.FollowerOf(id);

    /// <summary>Scrapes every replica's /metrics now instead of waiting for the next poll (tests).</summary>
    public Task PollSignalsAsync() => _signals.PollOnceAsync();

    public static async Task<LoomRouter> StartAsync(RouterOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var reader = options.ModelDirectory is { } dir ? PromptReader.FromModelDirectory(dir) : null;
        var replicas = new ReplicaDirectory(options.PrefixIndexCapacityBlocks);
        var metrics = new RouterMetrics();
        var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(options.LogLevel));
        var signals = new ReplicaSignalPoller(options.MetricsPollInterval, loggers.CreateLogger<ReplicaSignalPoller>());
        var app = Build(options, replicas, metrics, reader, signals);
        var set = new ReplicaSet(replicas, signals, app.Services.GetRequiredService<InMemoryConfigProvider>(), options, metrics, loggers);
        // The first pick already knows block sizes and queues: joining scrapes each replica once.
        await set.ReconcileAsync([.. options.Replicas.Select((address, i) => new Replica(ReplicaDirectory.DestinationId(i), address))], cancellationToken);
        signals.Start();
        var pods = options.Discovery is { } discovery ? new PodWatcher(discovery, set, metrics, loggers.CreateLogger<PodWatcher>()) : null;
        pods?.Start();
        await app.StartAsync(cancellationToken);
        return new LoomRouter(app, signals, set, pods, replicas, metrics);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_pods is not null) await _pods.DisposeAsync();
        await _set.DisposeAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _signals.DisposeAsync();
    }

    private static WebApplication Build(RouterOptions options, ReplicaDirectory replicas, RouterMetrics metrics, PromptReader? reader,
        ReplicaSignalPoller poller)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(options.LogLevel);
        builder.Services.AddSingleton<IHostLifetime, OwnerControlledLifetime>();
        builder.Services.AddRoutingCore();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.AddServerHeader = false);
        builder.WebHost.UseUrls(ListenAddress.Url(options.Host, options.Port));

        poller.Unreachable += replicas.ForgetCacheOf;
        builder.Services.AddSingleton(replicas).AddSingleton(metrics).AddSingleton(poller).AddSingleton(options.Policy);
        builder.Services.AddSingleton<InferenceLoadBalancingPolicy>();
        builder.Services.AddSingleton<ILoadBalancingPolicy>(sp => sp.GetRequiredService<InferenceLoadBalancingPolicy>());
        builder.Services.AddSingleton<IPassiveHealthCheckPolicy>(sp =>
            new ConnectFailureHealthPolicy(sp.GetRequiredService<IDestinationHealthUpdater>(), options.ReactivationPeriod, replicas));
        builder.Services.AddReverseProxy()
            .LoadFromMemory(ProxyConfig.Routes(), [ProxyConfig.Cluster(options, [])]) // ReplicaSet publishes the destinations
            .AddTransforms(t => t.AddResponseTransform(RetryOnAnotherReplica.MarkUnavailable));

        var app = builder.Build();
        var hashing = new PromptHashing(reader, poller, options.BlockSize);
        var retry = new RetryOnAnotherReplica(metrics, app.Services.GetRequiredService<InferenceLoadBalancingPolicy>());
        app.Use((context, next) => hashing.InvokeAsync(context, () => next(context)));
        app.UseRouting();
        app.MapGet("/health", (HttpContext c) => HealthAsync(c));
        app.MapGet("/metrics", (HttpContext c) => MetricsAsync(c, metrics));
        app.MapReverseProxy(pipeline =>
        {
            pipeline.Use((context, next) => retry.InvokeAsync(context, () => next(context)));
            pipeline.UseLoadBalancing();
            pipeline.UsePassiveHealthChecks();
        });
        return app;
    }

    /// <summary>200 while some replica is in rotation; 503 in OpenAI's error shape when none is.</summary>
    private static Task HealthAsync(HttpContext context)
    {
        var lookup = context.RequestServices.GetRequiredService<IProxyStateLookup>();
        if (lookup.TryGetCluster(ProxyConfig.ClusterId, out var cluster) && cluster.DestinationsState.AvailableDestinations.Count > 0)
        {
            context.Response.StatusCode = 200;
            return Task.CompletedTask;
        }
        return RetryOnAnotherReplica.NoHealthyReplicaAsync(context.Response);
    }

    private static async Task MetricsAsync(HttpContext context, RouterMetrics metrics)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
    }
}
