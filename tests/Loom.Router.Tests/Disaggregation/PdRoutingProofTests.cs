using System.Text.Json;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Router.Disaggregation;
using Loom.Router.Tests.Proxy;
using Loom.Server.Hosting;
using Loom.Server.KvTransfer;
using Loom.Tests;

namespace Loom.Router.Tests.Disaggregation;

/// <summary>
/// Two prefill replicas (streaming KV cache events, which the P/D router follows) and one decode replica, demo model, on
/// 127.0.0.1: a prompt extending one that a prefill replica already computed goes to that replica and hits its prefix
/// cache there, the decoder pulls only what it lacks, and the greedy answer is still the single server's.
/// </summary>
public sealed class PdRoutingProofTests : IAsyncLifetime
{
    private const string Shared = "Once upon a time in a small village by the sea there lived an old fisherman who told stories to the children every evening about the storms he had seen";
    private const string Unrelated = "The committee met on Tuesday to discuss the budget for the coming year and the plans for a new library with a garden and a reading room for everyone";

    private readonly GrpcKvBlockFetcher _fetcher = new();
    private LoomServer[] _prefill = [];
    private LoomServer _decode = null!;
    private PdRouter _router = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _prefill = [await StartAsync(KvRole.Prefill), await StartAsync(KvRole.Prefill)];
        _decode = await StartAsync(KvRole.Decode);
        _router = await PdRouter.StartAsync(new PdRouterOptions
        {
            Prefill = [.. _prefill.Select(p => p.BaseUrl)],
            Decode = [_decode.BaseUrl],
            Port = 0,
            ModelDirectory = RepoPaths.DemoModel,
            MetricsPollInterval = TimeSpan.FromMilliseconds(100),
        });
        _client = new HttpClient { BaseAddress = new Uri(_router.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
    }

    private async Task<LoomServer> StartAsync(KvRole role)
    {
        var engine = new EngineOptions { MaxNumSeqs = 8, EnableKvCacheEvents = role == KvRole.Prefill };
        var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", Engine = engine });
        var options = new ServerOptions { Host = "127.0.0.1", Port = 0, KvRole = role, KvPort = role == KvRole.Prefill ? 0 : null };
        return await LoomServer.StartAsync(options, EngineHost.Start(model, engine, kvFetcher: role == KvRole.Decode ? _fetcher : null));
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _router.DisposeAsync();
        await _decode.DisposeAsync();
        foreach (var p in _prefill) await p.DisposeAsync();
        _fetcher.Dispose();
    }

    [Fact]
    public async Task A_prompt_extending_one_a_prefill_replica_computed_goes_there_and_equals_the_single_server_answer()
    {
        await CompleteAsync(_client, Unrelated); // both empty: prefill replica 0
        await UntilIndexedAsync(0);
        await CompleteAsync(_client, Shared); // replica 0 is known to hold more: the new prefix goes to replica 1
        await UntilIndexedAsync(1);
        var routed = await CompleteAsync(_client, Shared + " and the ships he had lost");

        Assert.Equal(0, Stats(_prefill[0]).PrefixCacheHits);
        Assert.True(Stats(_prefill[1]).PrefixCacheHits > 0, "the extended prompt did not hit replica 1's prefix cache");
        var metrics = await _client.GetStringAsync("/metrics");
        Assert.Equal(1, RouterRig.MetricValue(metrics, "loom_router_pd_routing_decisions_total{role=\"prefill\",reason=\"prefix_affinity\"}"));
        Assert.Equal(3, RouterRig.MetricValue(metrics, "loom_router_pd_routing_decisions_total{role=\"decode\",reason=\"single\"}"));
        Assert.Equal(3, Stats(_decode).KvPulled.Requests);
        Assert.True(Stats(_decode).KvPulled.Bytes > 0);

        using var direct = new HttpClient { BaseAddress = new Uri(_prefill[0].BaseUrl) };
        Assert.Equal(await CompleteAsync(direct, Shared + " and the ships he had lost"), routed);
    }

    private static EngineStats Stats(LoomServer server) => server.Model!.Engine.GetStats();

    /// <summary>The router's index of prefill replica i holds blocks (its KV events, or the routed prompt, arrived).</summary>
    private async Task UntilIndexedAsync(int i)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (_router.Prefill.IndexOf(i).Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the router's index of prefill replica {i} stayed empty");
            await Task.Delay(20);
        }
        await _router.PollSignalsAsync();
    }

    private static async Task<string> CompleteAsync(HttpClient client, string prompt)
    {
        var body = JsonSerializer.Serialize(new { prompt, max_tokens = 8, temperature = 0, ignore_eos = true, return_token_ids = true });
        using var response = await client.PostAsync("/v1/completions", RouterRig.Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        using var json = JsonDocument.Parse(text);
        return json.RootElement.GetProperty("choices")[0].GetProperty("token_ids").GetRawText();
    }
}
