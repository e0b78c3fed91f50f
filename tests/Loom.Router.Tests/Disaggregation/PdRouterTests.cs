using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Router.Disaggregation;
using Loom.Server.Hosting;
using Loom.Server.KvTransfer;
using Loom.Tests;

namespace Loom.Router.Tests.Disaggregation;

/// <summary>
/// <c>loom router --pd-disaggregation</c> in front of one prefill and one decode server (demo model, KV over gRPC on
/// 127.0.0.1): the client sends a plain request and gets the single-server answer, streamed or whole.
/// </summary>
public sealed class PdRouterTests : IAsyncLifetime
{
    private readonly GrpcKvBlockFetcher _fetcher = new();
    private LoomServer _prefill = null!, _decode = null!;
    private PdRouter _router = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        var engine = new EngineOptions { IdleSelfCheck = true, MaxNumSeqs = 8 };
        var loader = new LoaderOptions { Backend = "cpu", Engine = engine };
        _prefill = await LoomServer.StartAsync(new ServerOptions { Host = "127.0.0.1", Port = 0, KvRole = KvRole.Prefill, KvPort = 0 },
            EngineHost.Start(ModelLoader.Load(RepoPaths.DemoModel, loader), engine));
        _decode = await LoomServer.StartAsync(new ServerOptions { Host = "127.0.0.1", Port = 0, KvRole = KvRole.Decode },
            EngineHost.Start(ModelLoader.Load(RepoPaths.DemoModel, loader), engine, kvFetcher: _fetcher));
        _router = await PdRouter.StartAsync(new PdRouterOptions { Prefill = [_prefill.BaseUrl], Decode = [_decode.BaseUrl], Port = 0, ModelDirectory = RepoPaths.DemoModel });
        _client = new HttpClient { BaseAddress = new Uri(_router.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _router.DisposeAsync();
        await _decode.DisposeAsync();
        await _prefill.DisposeAsync();
        _fetcher.Dispose();
    }

    private const string Body = """{"prompt":"The capital of France is a city that many people visit because","max_tokens":12,"temperature":0,"return_token_ids":true,"ignore_eos":true}""";

    [Fact]
    public async Task A_completion_through_the_router_equals_the_single_server_answer_and_the_lease_is_released()
    {
        using var direct = new HttpClient { BaseAddress = new Uri(_prefill.BaseUrl) };
        var single = await PostAsync(direct, "/v1/completions", Body);
        var routed = await PostAsync(_client, "/v1/completions", Body);
        Assert.Equal(TokenIds(single), TokenIds(routed));
        Assert.Equal(12, routed.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (_prefill.Model!.Engine.GetStats() is not { NumHeldRequests: 0, NumBlocksUsed: 0 })
        {
            Assert.True(DateTime.UtcNow < deadline, "the prefill server still holds the pulled blocks");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_streamed_chat_is_passed_through_as_server_sent_events()
    {
        const string chat = """{"messages":[{"role":"user","content":"Tell me a story"}],"max_completion_tokens":6,"temperature":0,"ignore_eos":true,"stream":true}""";
        using var response = await _client.PostAsync("/v1/chat/completions", Json(chat));
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n').Where(l => l.StartsWith("data: ", StringComparison.Ordinal)).ToList();
        Assert.Equal("data: [DONE]", lines[^1]);
        Assert.True(lines.Count >= 3, string.Join("\n", lines));
    }

    [Fact]
    public async Task A_client_that_sends_kv_transfer_params_itself_gets_a_400_naming_the_field()
    {
        using var response = await _client.PostAsync("/v1/completions", Json(Body.Replace("}", ""","kv_transfer_params":{"do_remote_decode":true}}""")));
        Assert.Equal(400, (int)response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("kv_transfer_params", error.RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task An_unreachable_prefill_replica_is_a_502_in_openai_shape()
    {
        await using var router = await PdRouter.StartAsync(new PdRouterOptions { Prefill = ["http://127.0.0.1:9"], Decode = [_decode.BaseUrl], Port = 0 });
        using var client = new HttpClient { BaseAddress = new Uri(router.BaseUrl) };
        using var response = await client.PostAsync("/v1/completions", Json(Body));
        Assert.Equal(502, (int)response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("replica_unreachable", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(503, (int)(await client.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task Models_and_health_answer_through_the_router()
    {
        Assert.Equal(200, (int)(await _client.GetAsync("/health")).StatusCode);
        using var models = JsonDocument.Parse(await _client.GetStringAsync("/v1/models"));
        Assert.Equal("list", models.RootElement.GetProperty("object").GetString());
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));

    private static async Task<JsonElement> PostAsync(HttpClient client, string path, string body)
    {
        using var response = await client.PostAsync(path, Json(body));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static int[] TokenIds(JsonElement reply) =>
        [.. reply.GetProperty("choices")[0].GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32())];
}
