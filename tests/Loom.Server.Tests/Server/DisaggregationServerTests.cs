using System.Text.Json;
using System.Text.Json.Nodes;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Server.Hosting;
using Loom.Server.KvTransfer;
using Loom.Server.Tests.Server.Fakes;
using Loom.Tests;

namespace Loom.Server.Tests.Server;

/// <summary>A prefill server and a decode server on the demo model, in this process, KV moving over gRPC on 127.0.0.1.</summary>
public sealed class PdServersFixture : IAsyncLifetime
{
    public LoomServer Prefill { get; private set; } = null!;
    public LoomServer Decode { get; private set; } = null!;
    private readonly GrpcKvBlockFetcher _fetcher = new();

    public async Task InitializeAsync()
    {
        var engine = new EngineOptions { IdleSelfCheck = true, MaxNumSeqs = 8 };
        var loader = new LoaderOptions { Backend = "cpu", Engine = engine };
        Prefill = await LoomServer.StartAsync(new ServerOptions { Host = "127.0.0.1", Port = 0, KvRole = KvRole.Prefill, KvPort = 0 },
            EngineHost.Start(ModelLoader.Load(RepoPaths.DemoModel, loader), engine));
        Decode = await LoomServer.StartAsync(new ServerOptions { Host = "127.0.0.1", Port = 0, KvRole = KvRole.Decode },
            EngineHost.Start(ModelLoader.Load(RepoPaths.DemoModel, loader), engine, kvFetcher: _fetcher));
    }

    public async Task DisposeAsync()
    {
        await Decode.DisposeAsync();
        await Prefill.DisposeAsync();
        _fetcher.Dispose();
    }
}

/// <summary>
/// The HTTP side of P/D: a do_remote_decode reply names the held KV in vLLM's fields, the decode server pulls it over
/// gRPC and its greedy tokens equal the prefill server's own single-server answer; bad kv_transfer_params are 400s.
/// </summary>
public class DisaggregationServerTests(PdServersFixture servers) : IClassFixture<PdServersFixture>
{
    [Theory]
    [InlineData("The quick brown fox jumps over the lazy dog because it wanted to see what was on the other side of the")]
    [InlineData("Once upon a time")]
    public async Task PrefillThenDecodeEqualsOneServer(string prompt)
    {
        string body = Completion(prompt);
        using var prefill = TestServers.Client(servers.Prefill);
        using var decode = TestServers.Client(servers.Decode);
        var (_, single) = await TestServers.PostAsync(prefill, "/v1/completions", body);

        var (status, reply) = await TestServers.PostAsync(prefill, "/v1/completions", With(body, """{"do_remote_decode": true}"""));
        Assert.Equal(200, status);
        var kv = reply.GetProperty("kv_transfer_params");
        Assert.True(kv.GetProperty("do_remote_prefill").GetBoolean());
        Assert.Equal(servers.Prefill.KvPort, kv.GetProperty("remote_port").GetInt32());
        Assert.Equal(1, reply.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(1, servers.Prefill.Model!.Engine.GetStats().NumHeldRequests);

        var (decodeStatus, answer) = await TestServers.PostAsync(decode, "/v1/completions", With(body, kv.GetRawText()));
        Assert.Equal(200, decodeStatus);
        Assert.Equal(TokenIds(single), TokenIds(answer));
        await TestServers.WaitUntilAsync(() => servers.Prefill.Model!.Engine.GetStats() is { NumHeldRequests: 0, NumBlocksUsed: 0 },
            "the prefill server released the pulled blocks");
    }

    [Fact]
    public async Task ThePullSkipsWhatTheDecoderCachesAndChatWorksToo()
    {
        string shared = string.Concat(Enumerable.Repeat("Every system prompt starts with the same long words. ", 4));
        using var prefill = TestServers.Client(servers.Prefill);
        using var decode = TestServers.Client(servers.Decode);
        await TestServers.PostAsync(decode, "/v1/chat/completions", Chat(shared + "Hello"));

        string body = Chat(shared + "Tell me a story");
        var (_, single) = await TestServers.PostAsync(prefill, "/v1/chat/completions", body);
        var (_, reply) = await TestServers.PostAsync(prefill, "/v1/chat/completions", With(body, """{"do_remote_decode": true}"""));
        var (status, answer) = await TestServers.PostAsync(decode, "/v1/chat/completions",
            With(body, reply.GetProperty("kv_transfer_params").GetRawText()));

        Assert.Equal(200, status);
        Assert.Equal(Message(single), Message(answer));
        Assert.True(answer.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32() > 0);
    }

    [Fact]
    public async Task AnUnreachablePrefillerIsRecomputedByDefault()
    {
        string body = Completion("A decoder whose prefiller is gone");
        using var decode = TestServers.Client(servers.Decode);
        var (_, single) = await TestServers.PostAsync(decode, "/v1/completions", body);
        var gone = """{"do_remote_prefill": true, "remote_engine_id": "x", "remote_request_id": "r", "remote_block_ids": [0, 1], "remote_host": "127.0.0.1", "remote_port": 1}""";
        var (status, answer) = await TestServers.PostAsync(decode, "/v1/completions", With(body, gone));
        Assert.Equal(200, status);
        Assert.Equal(TokenIds(single), TokenIds(answer));
    }

    [Theory]
    [InlineData("decode", """{"do_remote_decode": true, "colour": 1}""", "kv_transfer_params.colour")]
    [InlineData("decode", "[]", "kv_transfer_params")]
    [InlineData("decode", """{"do_remote_prefill": "yes"}""", "kv_transfer_params.do_remote_prefill")]
    [InlineData("decode", """{"do_remote_prefill": true, "remote_engine_id": "e", "remote_request_id": "r", "remote_block_ids": [0], "remote_host": "h"}""", "kv_transfer_params.remote_port")]
    [InlineData("decode", """{"do_remote_prefill": true, "remote_engine_id": "e", "remote_request_id": "r", "remote_block_ids": [-1], "remote_host": "h", "remote_port": 9}""", "kv_transfer_params.remote_block_ids")]
    [InlineData("decode", """{"do_remote_decode": true}""", "kv_transfer_params.do_remote_decode")]
    [InlineData("prefill", """{"do_remote_prefill": true, "remote_engine_id": "e", "remote_request_id": "r", "remote_block_ids": [0], "remote_host": "h", "remote_port": 9}""", "kv_transfer_params.do_remote_prefill")]
    public async Task MalformedOrMisplacedKvTransferParamsAre400s(string server, string kvParams, string param)
    {
        using var client = TestServers.Client(server == "decode" ? servers.Decode : servers.Prefill);
        var (status, body) = await TestServers.PostAsync(client, "/v1/completions", With(Completion("hi"), kvParams));
        Assert.Equal(400, status);
        Assert.Equal(param, body.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task AStreamedPrefillIsRefused()
    {
        using var client = TestServers.Client(servers.Prefill);
        var json = JsonNode.Parse(With(Completion("hi"), """{"do_remote_decode": true}"""))!;
        json["stream"] = true;
        var (status, body) = await TestServers.PostAsync(client, "/v1/completions", json.ToJsonString());
        Assert.Equal(400, status);
        Assert.Equal("stream", body.GetProperty("error").GetProperty("param").GetString());
    }

    private static string Completion(string prompt) =>
        JsonSerializer.Serialize(new { prompt, max_tokens = 12, temperature = 0, return_token_ids = true, ignore_eos = true });

    private static string Chat(string content) =>
        JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content } }, max_tokens = 10, temperature = 0, ignore_eos = true });

    private static string With(string body, string kvParams)
    {
        var json = JsonNode.Parse(body)!;
        json["kv_transfer_params"] = JsonNode.Parse(kvParams);
        return json.ToJsonString();
    }

    private static int[] TokenIds(JsonElement reply) =>
        [.. reply.GetProperty("choices")[0].GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32())];

    private static string Message(JsonElement reply) => reply.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
}
