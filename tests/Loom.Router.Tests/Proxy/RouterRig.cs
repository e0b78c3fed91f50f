using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Router.Hosting;
using Loom.Router.Routing;
using Loom.Server.Hosting;
using Loom.Tests;

namespace Loom.Router.Tests.Proxy;

/// <summary>
/// One router in front of two real Loom replicas serving the demo model, all in-process on 127.0.0.1 with ports picked
/// by the OS, probing health every 100 ms so ejection and readmission happen within a test. Disposing stops everything.
/// </summary>
internal sealed class RouterRig : IAsyncDisposable
{
    private readonly LoomServer?[] _replicas;

    private RouterRig(LoomServer?[] replicas, LoomRouter router)
    {
        _replicas = replicas;
        Router = router;
        Client = new HttpClient { BaseAddress = new Uri(router.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
    }

    public LoomRouter Router { get; }
    public HttpClient Client { get; }
    public string[] Urls { get; private set; } = [];

    public LoomServer Replica(int i) => _replicas[i] ?? throw new InvalidOperationException($"Replica {i} is stopped.");

    /// <param name="kvEvents">Replicas stream KV cache events on a KV service port (and the router follows them), with a
    /// cache of <paramref name="kvCacheBlocks"/> blocks when given.</param>
    public static async Task<RouterRig> StartAsync(RoutingPolicyOptions? policy = null, int blockSize = 16, bool kvEvents = false, int? kvCacheBlocks = null)
    {
        var replicas = new LoomServer?[] { await StartReplicaAsync(0, blockSize, kvEvents, kvCacheBlocks), await StartReplicaAsync(0, blockSize, kvEvents, kvCacheBlocks) };
        var urls = replicas.Select(r => r!.BaseUrl).ToArray();
        var router = await LoomRouter.StartAsync(new RouterOptions
        {
            Replicas = urls,
            Port = 0,
            ModelDirectory = RepoPaths.DemoModel,
            Policy = policy ?? new RoutingPolicyOptions(),
            MetricsPollInterval = TimeSpan.FromMilliseconds(100),
            HealthCheckInterval = TimeSpan.FromMilliseconds(100),
            HealthCheckTimeout = TimeSpan.FromSeconds(2),
            ReactivationPeriod = TimeSpan.FromMilliseconds(300),
            LogLevel = Environment.GetEnvironmentVariable("LOOM_ROUTER_TEST_LOG") is null ? Microsoft.Extensions.Logging.LogLevel.Warning : Microsoft.Extensions.Logging.LogLevel.Debug,
        });
        return new RouterRig(replicas, router) { Urls = urls };
    }

    /// <summary>Bytes of one KV block of the demo model: K and V, 6 layers, 2 KV heads of 32, fp32, per token of the block.</summary>
    public static long DemoBlockBytes(int blockSize) => 2L * 6 * 2 * 32 * sizeof(float) * blockSize;

    /// <param name="host">Another loopback address (127.0.0.2) gives a second replica the same port, as pods share one.</param>
    public static async Task<LoomServer> StartReplicaAsync(int port, int blockSize = 16, bool kvEvents = false, int? kvCacheBlocks = null, string host = "127.0.0.1")
    {
        var engine = new EngineOptions
        {
            MaxNumSeqs = 8,
            BlockSize = blockSize,
            EnableKvCacheEvents = kvEvents,
            KvCacheBytes = kvCacheBlocks * DemoBlockBytes(blockSize),
        };
        var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", Engine = engine });
        var options = new ServerOptions { Host = host, Port = port, MaxNumSeqs = 8, KvPort = kvEvents ? 0 : null };
        return await LoomServer.StartAsync(options, EngineHost.Start(model, engine));
    }

    public async Task StopReplicaAsync(int i)
    {
        await Replica(i).DisposeAsync();
        _replicas[i] = null;
    }

    public async Task RestartReplicaAsync(int i, bool kvEvents = false) => _replicas[i] = await StartReplicaAsync(new Uri(Urls[i]).Port, kvEvents: kvEvents);

    /// <summary>The router's count of requests sent to replica i.</summary>
    public async Task<double> RoutedToAsync(int i) => MetricValue(await Client.GetStringAsync("/metrics"), $"loom_router_requests_total{{replica=\"{Urls[i]}\"}}");

    public static double MetricValue(string metrics, string series)
    {
        foreach (var line in metrics.Split('\n'))
            if (line.StartsWith(series + " ", StringComparison.Ordinal)) return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        return 0;
    }

    public static StringContent Json(string body) => new(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));

    public static string Chat(string system, string user, int maxTokens = 2, bool stream = false) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["model"] = "demo",
        ["messages"] = new[] { new { role = "system", content = system }, new { role = "user", content = user } },
        ["max_tokens"] = maxTokens,
        ["temperature"] = 0,
        ["stream"] = stream,
    });

    /// <summary>Sends a chat request through the router (or <paramref name="client"/>); returns the replica's cached_tokens.</summary>
    public async Task<int> ChatAsync(string system, string user, HttpClient? client = null)
    {
        using var response = await (client ?? Client).PostAsync("/v1/chat/completions", Json(Chat(system, user)));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        using var json = JsonDocument.Parse(text);
        return json.RootElement.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Router.DisposeAsync();
        foreach (var replica in _replicas)
            if (replica is not null) await replica.DisposeAsync();
    }
}
