using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Router.Hosting;
using Loom.Server.Hosting;

namespace Loom.Benchmarks;

/// <summary>
/// Prefix-aware versus round-robin routing (issue 15, docs/perf.md "Router: prefix-aware versus round-robin"): 1 router
/// + 2 in-process replicas of the demo model, each with a KV cache smaller than all tenants' system prompts, serving a
/// multi-tenant shared-prefix chat workload from a closed loop of clients. Per policy, on fresh replicas: prefix-cache
/// hit rate (hits / queries summed over replicas, in tokens), mean and p90 TTFT (first SSE chunk), requests/s.
/// Policies: round_robin, cache_aware with the routed-prompt index (--kv-events false), cache_aware following KV events.
/// Usage: dotnet run --project tests/Loom.Benchmarks -- router [--tenants 8] [--requests 48] [--clients 4] [--cache-blocks 48]
/// </summary>
internal static class RouterBenchmark
{
    private sealed record Policy(string Name, string LoadBalancing, bool KvEvents);

    private static readonly Policy[] Policies =
    [
        new("round_robin", "round_robin", false),
        new("cache_aware, routed index", "cache_aware", false),
        new("cache_aware, KV events", "cache_aware", true),
    ];

    public static int Run(string[] args)
    {
        int tenants = Arg(args, "--tenants", 8), requests = Arg(args, "--requests", 48), clients = Arg(args, "--clients", 4);
        int cacheBlocks = Arg(args, "--cache-blocks", 48);
        string demo = Path.Combine(FindRoot(), "models", "demo");
        Console.WriteLine($"Router benchmark: {tenants} tenants, {requests} requests, {clients} clients, 2 replicas of {cacheBlocks} blocks of 16 tokens, " +
            $"{Environment.ProcessorCount} logical cores, load average {LoadAverage()}");
        Console.WriteLine("| policy | prefix-cache hit rate | mean TTFT (ms) | p90 TTFT (ms) | requests/s |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var policy in Policies)
        {
            var result = RunOnce(demo, policy, tenants, requests, clients, cacheBlocks).GetAwaiter().GetResult();
            Console.WriteLine($"| {policy.Name} | {result.HitRate:P1} | {result.MeanTtftMs:F0} | {result.P90TtftMs:F0} | {result.RequestsPerSecond:F2} |");
        }
        return 0;
    }

    private sealed record Result(double HitRate, double MeanTtftMs, double P90TtftMs, double RequestsPerSecond);

    private static async Task<Result> RunOnce(string demo, Policy policy, int tenants, int requests, int clients, int cacheBlocks)
    {
        await using var a = await StartReplicaAsync(demo, cacheBlocks);
        await using var b = await StartReplicaAsync(demo, cacheBlocks);
        await using var router = await LoomRouter.StartAsync(new RouterOptions
        {
            Replicas = [a.BaseUrl, b.BaseUrl],
            Port = 0,
            ModelDirectory = demo,
            LoadBalancing = policy.LoadBalancing,
            KvEvents = policy.KvEvents,
            MetricsPollInterval = TimeSpan.FromMilliseconds(200),
        });
        await Task.Delay(500); // the followers subscribe and take their first snapshot
        using var http = new HttpClient { BaseAddress = new Uri(router.BaseUrl), Timeout = TimeSpan.FromMinutes(5) };
        var work = Workload(tenants, requests);
        int next = -1;
        var ttfts = new double[requests];
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            for (int i; (i = Interlocked.Increment(ref next)) < requests;) ttfts[i] = await TtftMsAsync(http, work[i]);
        }));
        double seconds = clock.Elapsed.TotalSeconds;
        long hits = 0, queries = 0;
        foreach (var replica in new[] { a, b })
        {
            var stats = replica.Model!.Engine.GetStats();
            hits += stats.PrefixCacheHits;
            queries += stats.PrefixCacheQueries;
        }
        Array.Sort(ttfts);
        return new Result(queries == 0 ? 0 : (double)hits / queries, ttfts.Average(), ttfts[(int)(0.9 * (requests - 1))], requests / seconds);
    }

    /// <summary>Chat bodies: a random tenant's system prompt (about 130 tokens, 8 blocks) and a user turn of its own.</summary>
    private static string[] Workload(int tenants, int requests)
    {
        var random = new Random(1);
        var systems = Enumerable.Range(0, tenants)
            .Select(t => $"Tenant {t}. " + string.Join(' ', Enumerable.Repeat($"You are the support assistant of company number {t * 13 + 7}.", 12)))
            .ToArray();
        return [.. Enumerable.Range(0, requests).Select(i => JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = "demo",
            ["messages"] = new[]
            {
                new { role = "system", content = systems[random.Next(tenants)] },
                new { role = "user", content = $"User {random.Next(100000)} asks question number {i} about the invoice." },
            },
            ["max_tokens"] = 4,
            ["ignore_eos"] = true,
            ["temperature"] = 0,
            ["stream"] = true,
        }))];
    }

    private static async Task<double> TtftMsAsync(HttpClient http, string body)
    {
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double ttft = double.NaN;
        while (await reader.ReadLineAsync() is { } line)
        {
            // The first chunk carries only the role (content ""): the first token is the first non-empty content.
            if (double.IsNaN(ttft) && line.StartsWith("data:", StringComparison.Ordinal) && line.Contains("\"content\":\"") && !line.Contains("\"content\":\"\""))
                ttft = clock.Elapsed.TotalMilliseconds;
            if (line == "data: [DONE]") break;
        }
        return double.IsNaN(ttft) ? clock.Elapsed.TotalMilliseconds : ttft;
    }

    private static async Task<LoomServer> StartReplicaAsync(string demo, int cacheBlocks)
    {
        var engine = new EngineOptions
        {
            MaxNumSeqs = 8,
            EnableKvCacheEvents = true,
            KvCacheBytes = cacheBlocks * 2L * 6 * 2 * 32 * sizeof(float) * 16, // the demo model's fp32 block of 16 tokens
        };
        var model = ModelLoader.Load(demo, new LoaderOptions { Backend = "cpu", Engine = engine });
        return await LoomServer.StartAsync(new ServerOptions { Host = "127.0.0.1", Port = 0, MaxNumSeqs = 8, KvPort = 0 }, EngineHost.Start(model, engine));
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 ? int.Parse(args[at + 1]) : fallback;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "unknown";

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Loom.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("Loom.slnx not found");
    }
}
