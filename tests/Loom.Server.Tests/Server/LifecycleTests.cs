using System.Net;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;

namespace Loom.Server.Tests.Server;

/// <summary>API key, overload (503 + Retry-After), loading, draining and client disconnects, with a gated scripted engine.</summary>
public sealed class LifecycleTests
{
    private const string Chat = """{"messages": [{"role":"user","content":"hi"}], "max_tokens": 5}""";
    private const string StreamingChat = """{"messages": [{"role":"user","content":"hi"}], "max_tokens": 5, "stream": true}""";

    [Fact]
    public async Task Api_key_is_required_on_v1_only()
    {
        await using var server = await TestServers.StartAsync(TestServers.ScriptedModel(), new ServerOptions { ApiKey = "s3cret" });
        using var anonymous = TestServers.Client(server);
        using var wrong = TestServers.Client(server, "s3cre");
        using var right = TestServers.Client(server, "s3cret");

        var (status, json) = await TestServers.PostAsync(anonymous, "/v1/chat/completions", Chat);
        Assert.Equal(401, status);
        ErrorResponseTests.AssertError(json, "authentication_error", null);
        Assert.Equal(401, (await TestServers.PostAsync(wrong, "/v1/chat/completions", Chat)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/models")).StatusCode);
        Assert.Equal(200, (await TestServers.PostAsync(right, "/v1/chat/completions", Chat)).Status);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task Full_waiting_queue_gives_503_with_retry_after_and_running_requests_finish()
    {
        var engine = new ScriptedEngine { Gate = new SemaphoreSlim(0) };
        await using var server = await TestServers.StartAsync(TestServers.ScriptedModel(engine),
            new ServerOptions { MaxNumSeqs = 1, MaxWaiting = 1, RetryAfterSeconds = 2 });
        using var client = TestServers.Client(server);
        var first = client.PostAsync("/v1/chat/completions", TestServers.Json(StreamingChat));
        var second = TestServers.PostAsync(client, "/v1/chat/completions", Chat);
        await TestServers.WaitUntilAsync(() => engine.Submitted == 2, "both requests reached the engine");

        using var refused = await client.PostAsync("/v1/chat/completions", TestServers.Json(Chat));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("2", refused.Headers.GetValues("Retry-After").Single());
        Assert.Contains("service_unavailable_error", await refused.Content.ReadAsStringAsync());

        engine.Gate.Release(2);
        using var firstResponse = await first;
        var firstStatus = (int)firstResponse.StatusCode;
        Assert.EndsWith("data: [DONE]\n\n", await firstResponse.Content.ReadAsStringAsync());
        var (secondStatus, secondJson) = await second;
        Assert.Equal(200, firstStatus);
        Assert.Equal(200, secondStatus);
        Assert.Equal("the q", secondJson.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal(0, engine.Aborted);
    }

    [Theory]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"n\": 13}")]
    [InlineData("/v1/completions", "{\"prompt\": [\"a\", \"b\", \"c\", \"d\", \"e\"], \"n\": 3}")]
    [InlineData("/v1/chat/completions", "{\"messages\": [{\"role\":\"user\",\"content\":\"hi\"}], \"n\": 13}")]
    public async Task A_request_that_can_never_be_admitted_is_a_400_not_a_503(string path, string body)
    {
        // max_num_seqs 4 + max_waiting 8 = 12 sequences at most: "retry shortly" would be a lie forever.
        var engine = new ScriptedEngine();
        await using var server = await TestServers.StartAsync(TestServers.ScriptedModel(engine),
            new ServerOptions { MaxNumSeqs = 4, MaxWaiting = 8 });
        using var client = TestServers.Client(server);
        var (status, json) = await TestServers.PostAsync(client, path, body);
        Assert.Equal(400, status);
        Assert.Equal("n", json.GetProperty("error").GetProperty("param").GetString());
        Assert.Contains("max_waiting 8", json.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(0, engine.Submitted);
        Assert.Equal(200, (await TestServers.PostAsync(client, path, body.Replace("13", "12").Replace("3}", "2}"))).Status);
    }

    [Fact]
    public async Task Loading_answers_503_until_the_model_is_ready()
    {
        var loaded = new TaskCompletionSource<ServedModel>();
        await using var server = await LoomServer.StartAsync(new ServerOptions { Port = 0 }, _ => loaded.Task);
        using var client = TestServers.Client(server);
        using (var health = await client.GetAsync("/health"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            Assert.True(health.Headers.Contains("Retry-After"));
        }
        var (status, json) = await TestServers.PostAsync(client, "/v1/chat/completions", Chat);
        Assert.Equal(503, status);
        Assert.Equal("model_loading", json.GetProperty("error").GetProperty("code").GetString());

        loaded.SetResult(TestServers.ScriptedModel());
        await server.ModelReady;
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
        Assert.Equal(200, (await TestServers.PostAsync(client, "/v1/chat/completions", Chat)).Status);
    }

    [Fact]
    public async Task Drain_refuses_new_requests_and_lets_running_ones_finish()
    {
        var engine = new ScriptedEngine { Gate = new SemaphoreSlim(0) };
        await using var server = await TestServers.StartAsync(TestServers.ScriptedModel(engine));
        using var client = TestServers.Client(server);
        var running = TestServers.PostAsync(client, "/v1/chat/completions", Chat);
        await TestServers.WaitUntilAsync(() => engine.Submitted == 1, "the request reached the engine");

        var drain = server.DrainAsync(TimeSpan.FromSeconds(60));
        var (status, json) = await TestServers.PostAsync(client, "/v1/chat/completions", Chat);
        Assert.Equal(503, status);
        Assert.Equal("server_draining", json.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/v1/models")).StatusCode);
        Assert.False(drain.IsCompleted);

        engine.Gate.Release();
        var (runningStatus, runningJson) = await running;
        Assert.Equal(200, runningStatus);
        Assert.Equal("length", runningJson.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        await drain;
        Assert.Equal(0, engine.Aborted);
    }

    [Fact]
    public async Task Drain_past_its_timeout_aborts_what_still_runs()
    {
        var engine = new ScriptedEngine { TokenGate = new SemaphoreSlim(0) };
        await using var server = await TestServers.StartAsync(TestServers.ScriptedModel(engine));
        using var client = TestServers.Client(server);
        var stuck = client.PostAsync("/v1/chat/completions", TestServers.Json(Chat));
        await TestServers.WaitUntilAsync(() => engine.Running == 1, "the request is running");

        await server.DrainAsync(TimeSpan.Zero);
        Assert.Equal(1, engine.Aborted);
        using var response = await stuck;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    [Fact]
    public async Task Raw_socket_disconnect_mid_stream_aborts_the_engine_request()
    {
        var engine = new ScriptedEngine { TokenGate = new SemaphoreSlim(0) };
        await using var server = await TestServers.StartAsync(TestServers.ScriptedModel(engine));
        engine.TokenGate.Release(3);
        var uri = new Uri(server.BaseUrl);
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(uri.Host, uri.Port);
            var body = """{"messages": [{"role":"user","content":"hi"}], "max_tokens": 200, "stream": true}""";
            var head = $"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}";
            var net = tcp.GetStream();
            await net.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
            Assert.True(await net.ReadAsync(new byte[256]) > 0);
            await TestServers.WaitUntilAsync(() => engine.TokenGate.CurrentCount == 0, "the engine used the released tokens");
        }
        await TestServers.WaitUntilAsync(() => engine.Aborted == 1, "the engine saw the abort");
    }

    [Fact]
    public async Task Client_disconnect_mid_stream_aborts_the_engine_request()
    {
        var engine = new ScriptedEngine { TokenGate = new SemaphoreSlim(0) };
        await using var server = await TestServers.StartAsync(TestServers.ScriptedModel(engine));
        using var client = TestServers.HangUpClient(server);
        engine.TokenGate.Release(3);
        var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = TestServers.Json("""{"messages": [{"role":"user","content":"hi"}], "max_tokens": 200, "stream": true}"""),
        }, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stream = await response.Content.ReadAsStreamAsync();
        Assert.True(await stream.ReadAsync(new byte[64]) > 0);
        await TestServers.WaitUntilAsync(() => engine.TokenGate.CurrentCount == 0, "the engine used the released tokens");
        response.Dispose(); // hang up mid-stream while the engine waits on its 4th token

        await TestServers.WaitUntilAsync(() => engine.Aborted == 1, "the engine saw the abort");
        Assert.Equal(0, engine.Running);
        engine.TokenGate.Release(1);
        Assert.Equal(200, (await TestServers.PostAsync(client, "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1}")).Status);
    }
}
