using Loom.Hosting;
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
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Transforms;

namespace Loom.Router.Hosting;

/// <summary>
/// <c>loom router</c>, started in-process: a YARP reverse proxy in front of Loom replicas that serves the same OpenAI
/// API (streams pass through untouched), picks a replica per request with <see cref="InferenceLoadBalancingPolicy"/>,
/// ejects dead or draining replicas (active /health probes, passive connect-failure detection) and readmits them when
/// healthy, and answers its own /health and /metrics. Each replica's prefix index follows its KV cache events when it
/// streams them (<see cref="KvEventFollower"/>), else learns the prompts routed there.
/// </summary>
public sealed class LoomRouter : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ReplicaSignalPoller _signals;
    private readonly KvEventFollower[] _kvEvents; // one per replica, or none with --kv-events false
    private int _disposed;

    private LoomRouter(WebApplication app, ReplicaSignalPoller signals, KvEventFollower[] kvEvents, ReplicaDirectory replicas, RouterMetrics metrics)
    {
        _app = app;
        _signals = signals;
        _kvEvents = kvEvents;
        Replicas = replicas;
        Metrics = metrics;
        BaseUrl = app.Urls.First().TrimEnd('/');
    }

    /// <summary>e.g. http://127.0.0.1:41234 (no trailing slash).</summary>
    public string BaseUrl { get; }

    public ReplicaDirectory Replicas { get; }
    public RouterMetrics Metrics { get; }

    /// <summary>The follower of replica <paramref name="i"/>'s KV cache events; null with --kv-events false.</summary>
    public KvEventFollower? KvEventsOf(int i) => _kvEvents.Length == 0 ? null : _kvEvents[i];

    /// <summary>Scrapes every replica's /metrics now instead of waiting for the next poll (tests).</summary>
    public Task PollSignalsAsync() => _signals.PollOnceAsync();

    public static async Task<LoomRouter> StartAsync(RouterOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var reader = options.ModelDirectory is { } dir ? PromptReader.FromModelDirectory(dir) : null;
        var replicas = new ReplicaDirectory(options.Replicas, options.PrefixIndexCapacityBlocks);
        var metrics = new RouterMetrics();
        var app = Build(options, replicas, metrics, reader, out var signals);
        await signals.PollOnceAsync(cancellationToken); // the first pick already knows block sizes and queues
        signals.Start();
        var kvEvents = options.KvEvents ? StartKvEventFollowers(options, replicas, signals) : [];
        await app.StartAsync(cancellationToken);
        return new LoomRouter(app, signals, kvEvents, replicas, metrics);
    }

    private static KvEventFollower[] StartKvEventFollowers(RouterOptions options, ReplicaDirectory replicas, ReplicaSignalPoller signals)
    {
        var logger = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(options.LogLevel)).CreateLogger<KvEventFollower>();
        var followers = new KvEventFollower[replicas.Addresses.Count];
        for (int i = 0; i < followers.Length; i++)
        {
            followers[i] = new KvEventFollower(replicas.Addresses[i], replicas.IndexOf(ReplicaDirectory.DestinationId(i)), signals,
                options.MetricsPollInterval, logger);
            followers[i].Start();
        }
        return followers;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var follower in _kvEvents) await follower.DisposeAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _signals.DisposeAsync();
    }

    private static WebApplication Build(RouterOptions options, ReplicaDirectory replicas, RouterMetrics metrics, PromptReader? reader,
        out ReplicaSignalPoller signals)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(options.LogLevel);
        builder.Services.AddSingleton<IHostLifetime, OwnerControlledLifetime>();
        builder.Services.AddRoutingCore();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.AddServerHeader = false);
        builder.WebHost.UseUrls(ListenAddress.Url(options.Host, options.Port));

        var poller = signals = new ReplicaSignalPoller(options.Replicas, options.MetricsPollInterval,
            LoggerFactory.Create(b => b.SetMinimumLevel(options.LogLevel)).CreateLogger<ReplicaSignalPoller>());
        poller.Unreachable += replicas.ForgetCacheOf;
        builder.Services.AddSingleton(replicas).AddSingleton(metrics).AddSingleton(poller).AddSingleton(options.Policy);
        builder.Services.AddSingleton<InferenceLoadBalancingPolicy>();
        builder.Services.AddSingleton<ILoadBalancingPolicy>(sp => sp.GetRequiredService<InferenceLoadBalancingPolicy>());
        builder.Services.AddSingleton<IPassiveHealthCheckPolicy>(sp =>
            new ConnectFailureHealthPolicy(sp.GetRequiredService<IDestinationHealthUpdater>(), options.ReactivationPeriod, replicas));
        builder.Services.AddReverseProxy()
            .LoadFromMemory(ProxyConfig.Routes(), [ProxyConfig.Cluster(options)])
            .AddTransforms(t => t.AddResponseTransform(RetryOnAnotherReplica.MarkUnavailable));

        var app = builder.Build();
        var hashing = new PromptHashing(reader, poller, options.Replicas, options.BlockSize);
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
