using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;

namespace Loom.Server.Tests.Server;

/// <summary>
/// Issue 16, the HTTP layer: every hostile request is refused with a 4xx in OpenAI's error shape (never a 500), and
/// the server answers a normal request correctly after each one.
/// </summary>
public sealed class HostileHttpRequestTests : IAsyncLifetime
{
    private LoomServer _server = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServers.StartAsync(TestServers.ScriptedModel(maxModelLen: 256));
        _client = TestServers.Client(_server);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    private const string Chat = """{"messages": [{"role":"user","content":"hi"}], "max_tokens": 3}""";

    /// <summary>The normal request other clients keep sending: the scripted engine answers "the".</summary>
    private async Task AssertStillServesAsync()
    {
        var (status, json) = await TestServers.PostAsync(_client, "/v1/chat/completions", Chat);
        Assert.Equal(200, status);
        Assert.Equal("the", json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    private async Task<(int Status, JsonElement Body)> SendAsync(string path, byte[] body, string? contentType, string? host = null,
        bool expectContinue = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        if (contentType is not null) request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (host is not null) request.Headers.Host = host;
        request.Headers.ExpectContinue = expectContinue;
        // With Expect the client waits for the server's verdict before sending the body; the handler's default wait
        // is one second, which a loaded CI machine can exceed, so this client waits as long as the request may take.
        using var patient = expectContinue
            ? new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromSeconds(60) })
            {
                BaseAddress = _client.BaseAddress, Timeout = TimeSpan.FromSeconds(60),
            }
            : null;
        using var response = await (patient ?? _client).SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    // Defect 4: a CORS "simple request" (text/plain, form) must not be parsed as JSON.
    [Theory]
    [InlineData("/v1/chat/completions", "text/plain")]
    [InlineData("/v1/chat/completions", "application/x-www-form-urlencoded")]
    [InlineData("/v1/completions", "text/plain; charset=utf-8")]
    [InlineData("/v1/completions", null)]
    [InlineData("/tokenize", "multipart/form-data; boundary=x")]
    [InlineData("/detokenize", "text/plain")]
    [InlineData("/v1/completions", "application/json; charset=latin1")]
    public async Task A_body_not_sent_as_json_is_415(string path, string? contentType)
    {
        var body = path == "/detokenize" ? """{"tokens": [104]}""" : path == "/v1/completions" ? """{"prompt": "x", "max_tokens": 1}""" : Chat;
        var (status, json) = await SendAsync(path, Encoding.UTF8.GetBytes(body), contentType);
        Assert.Equal(415, status);
        ErrorResponseTests.AssertError(json, "invalid_request_error", null);
        await AssertStillServesAsync();
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("Application/JSON; charset=UTF-8")]
    public async Task Json_with_or_without_a_utf8_charset_is_accepted(string contentType) =>
        Assert.Equal(200, (await SendAsync("/v1/chat/completions", Encoding.UTF8.GetBytes(Chat), contentType)).Status);

    // Defect 4: DNS rebinding. A loopback server answers loopback names only.
    [Theory]
    [InlineData("evil.example")]
    [InlineData("evil.example:8000")]
    [InlineData("127.0.0.1.evil.example")]
    [InlineData("10.0.0.1")]
    public async Task A_foreign_host_header_is_421_on_a_loopback_server(string host)
    {
        var (status, json) = await SendAsync("/v1/chat/completions", Encoding.UTF8.GetBytes(Chat), "application/json", host);
        Assert.Equal(421, status);
        ErrorResponseTests.AssertError(json, "invalid_request_error", null);
        Assert.Equal("invalid_host", json.GetProperty("error").GetProperty("code").GetString());
        await AssertStillServesAsync();
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("localhost:8000")]
    [InlineData("127.0.0.1:1234")]
    [InlineData("127.8.9.10")]
    [InlineData("[::1]:8000")]
    public async Task Loopback_host_headers_are_answered(string host) =>
        Assert.Equal(200, (await SendAsync("/v1/chat/completions", Encoding.UTF8.GetBytes(Chat), "application/json", host)).Status);

    [Fact]
    public async Task Allowed_hosts_widens_a_loopback_server()
    {
        await using var server = await TestServers.StartAsync(TestServers.ScriptedModel(),
            new ServerOptions { AllowedHosts = ["api.example"] });
        using var client = TestServers.Client(server);
        foreach (var (host, expected) in new[] { ("api.example:8000", 200), ("API.example", 200), ("other.example", 421), ("localhost", 200) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = TestServers.Json(Chat) };
            request.Headers.Host = host;
            using var response = await client.SendAsync(request);
            Assert.Equal(expected, (int)response.StatusCode);
        }
    }

    // Defect 10: text no string can hold. Each was a 500 with a stack trace.
    [Theory]
    [InlineData("/v1/completions", """{"prompt": "a\ud800b", "max_tokens": 1}""", "prompt")]
    [InlineData("/v1/completions", """{"prompt": ["ok", "\udc00"], "max_tokens": 1}""", "prompt")]
    [InlineData("/v1/completions", """{"prompt": "ab", "stop": "\udc00", "max_tokens": 1}""", "stop")]
    [InlineData("/v1/completions", """{"prompt": "ab", "stop": ["x", "a\ud800"], "max_tokens": 1}""", "stop")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role":"user","content":"a\ud800b"}]}""", "messages")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role":"user","content":[{"type":"text","text":"\ud800"}]}]}""", "messages")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role":"user","content":"x","tool_call_id":"\ud800"}]}""", "messages")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role":"user","content":"x"}], "stop": "\ud800"}""", "stop")]
    [InlineData("/tokenize", """{"prompt": "\ud800\ud800"}""", "prompt")]
    [InlineData("/v1/completions", """{"prompt": "x", "\ud800": 1}""", null)]
    public async Task A_lone_surrogate_escape_is_400(string path, string body, string? param)
    {
        var (status, json) = await TestServers.PostAsync(_client, path, body);
        Assert.Equal(400, status);
        ErrorResponseTests.AssertError(json, "invalid_request_error", param);
        await AssertStillServesAsync();
    }

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xFE })] // not UTF-8 at all
    [InlineData(new byte[] { 0xC0, 0xAF })] // overlong '/'
    [InlineData(new byte[] { 0xE0, 0x80, 0xAF })] // overlong, three bytes
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })] // a surrogate encoded in UTF-8
    [InlineData(new byte[] { 0xE2, 0x82 })] // truncated sequence
    public async Task Invalid_utf8_in_the_prompt_is_400(byte[] bad)
    {
        foreach (var (path, head, tail) in new[]
                 {
                     ("/v1/completions", "{\"prompt\": \"a", "b\", \"max_tokens\": 1}"),
                     ("/v1/chat/completions", "{\"messages\": [{\"role\":\"user\",\"content\":\"a", "b\"}]}"),
                     ("/tokenize", "{\"prompt\": \"a", "b\"}"),
                 })
        {
            var body = Encoding.ASCII.GetBytes(head).Concat(bad).Concat(Encoding.ASCII.GetBytes(tail)).ToArray();
            var (status, json) = await SendAsync(path, body, "application/json");
            Assert.Equal(400, status);
            ErrorResponseTests.AssertError(json, "invalid_request_error", null);
        }
        await AssertStillServesAsync();
    }

    [Theory]
    [InlineData("""{"messages": [{"role":"user","content":[{"type":5,"text":"x"}]}]}""")]
    [InlineData("""{"messages": [{"role":"user","content":[{"type":null,"text":"x"}]}]}""")]
    [InlineData("""{"messages": [{"role":"user","content":[{"type":["text"],"text":"x"}]}]}""")]
    [InlineData("""{"messages": [{"role":"user","content":[{"type":"text","text":7}]}]}""")]
    public async Task A_content_part_of_the_wrong_shape_is_400(string body)
    {
        var (status, json) = await TestServers.PostAsync(_client, "/v1/chat/completions", body);
        Assert.Equal(400, status);
        ErrorResponseTests.AssertError(json, "invalid_request_error", "messages[0].content[0]");
        await AssertStillServesAsync();
    }

    [Theory]
    [InlineData("zz")]
    [InlineData("-5")]
    [InlineData("FFFFFFFFFFFFFFFFFFFF")]
    public async Task A_bad_chunk_size_is_400(string chunkSize)
    {
        var uri = new Uri(_server.BaseUrl);
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        var head = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
            $"Transfer-Encoding: chunked\r\n\r\n{chunkSize}\r\n{{\"prompt\":\"x\"}}\r\n0\r\n\r\n";
        var net = tcp.GetStream();
        await net.WriteAsync(Encoding.ASCII.GetBytes(head));
        var buffer = new byte[4096];
        int read = await net.ReadAsync(buffer);
        Assert.StartsWith("HTTP/1.1 400", Encoding.ASCII.GetString(buffer, 0, read));
        await AssertStillServesAsync();
    }

    // Smaller item: errors speak JSON, not .NET.
    [Theory]
    [InlineData("/v1/completions", """{"prompt": "x", "max_tokens": "many"}""", "max_tokens", "an integer")]
    [InlineData("/v1/completions", """{"prompt": "x", "max_tokens": 1e20}""", "max_tokens", "an integer")]
    [InlineData("/v1/completions", """{"prompt": "x", "temperature": "hot"}""", "temperature", "a number")]
    [InlineData("/v1/completions", """{"prompt": "x", "echo": "yes"}""", "echo", "a boolean")]
    [InlineData("/v1/completions", """{"prompt": "x", "stop_token_ids": 5}""", "stop_token_ids", "a list")]
    [InlineData("/v1/completions", """{"prompt": "x", "stream_options": 5}""", "stream_options", "an object")]
    [InlineData("/v1/completions", """[1, 2]""", null, "an object")]
    [InlineData("/v1/chat/completions", """ "text" """, null, "an object")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role": 5, "content": "x"}]}""", "messages[0].role", "a string")]
    [InlineData("/v1/chat/completions", """{"messages": [7]}""", "messages[0]", "an object")]
    [InlineData("/tokenize", """{"prompt": ["x"]}""", "prompt", "a string")]
    public async Task Type_errors_name_json_types_not_dotnet_types(string path, string body, string? param, string words)
    {
        var (status, json) = await TestServers.PostAsync(_client, path, body);
        Assert.Equal(400, status);
        ErrorResponseTests.AssertError(json, "invalid_request_error", param);
        var message = json.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains(words, message);
        Assert.DoesNotContain("System.", message);
        Assert.DoesNotContain("Loom.", message);
        Assert.DoesNotContain("`", message);
    }

    // Defect 9: fields that change the meaning of a request are refused, not silently ignored.
    [Theory]
    [InlineData("functions", """[{"name":"f"}]""")]
    [InlineData("function_call", "\"auto\"")]
    [InlineData("allowed_token_ids", "[1,2]")]
    [InlineData("bad_words", """["x"]""")]
    [InlineData("truncate_prompt_tokens", "5")]
    [InlineData("use_beam_search", "true")]
    public async Task An_unsupported_field_is_400_naming_it(string field, string value)
    {
        foreach (var (path, head) in new[] { ("/v1/chat/completions", """{"messages": [{"role":"user","content":"hi"}]"""), ("/v1/completions", """{"prompt": "hi" """) })
        {
            var (status, json) = await TestServers.PostAsync(_client, path, $"{head}, \"max_tokens\": 2, \"{field}\": {value}}}");
            Assert.Equal(400, status);
            ErrorResponseTests.AssertError(json, "invalid_request_error", field);
            Assert.Contains("not supported", json.GetProperty("error").GetProperty("message").GetString());
        }
        await AssertStillServesAsync();
    }

    /// <summary>
    /// Completions has no tools; chat reads them (ToolCallingTests), and on a model whose template names no parser
    /// every spelling that asks for calls is a 400 on tool_choice.
    /// </summary>
    [Theory]
    [InlineData("tools", """[{"type":"function","function":{"name":"f","parameters":{}}}]""")]
    [InlineData("tool_choice", "\"required\"")]
    [InlineData("tool_choice", """{"type":"function","function":{"name":"f"}}""")]
    public async Task Tool_fields_are_400s_where_they_cannot_be_served(string field, string value)
    {
        var (status, json) = await TestServers.PostAsync(_client, "/v1/completions", $"{{\"prompt\": \"hi\", \"max_tokens\": 2, \"{field}\": {value}}}");
        Assert.Equal(400, status);
        ErrorResponseTests.AssertError(json, "invalid_request_error", field);
        (status, json) = await TestServers.PostAsync(_client, "/v1/chat/completions",
            $"{{\"messages\": [{{\"role\":\"user\",\"content\":\"hi\"}}], \"max_tokens\": 2, \"{field}\": {value}}}");
        Assert.Equal(400, status);
        ErrorResponseTests.AssertError(json, "invalid_request_error", "tool_choice");
        await AssertStillServesAsync();
    }

    [Theory]
    [InlineData("\"tools\": []")]
    [InlineData("\"tools\": null")]
    [InlineData("\"tool_choice\": \"none\"")]
    [InlineData("\"tool_choice\": \"auto\"")]
    [InlineData("\"tools\": [], \"tool_choice\": \"auto\", \"parallel_tool_calls\": true")]
    [InlineData("\"response_format\": {\"type\": \"text\"}")]
    [InlineData("\"user\": \"u-1\", \"metadata\": {\"k\": \"v\"}, \"store\": false, \"service_tier\": \"auto\"")]
    [InlineData("\"some_future_field\": 1")]
    public async Task Harmless_spellings_and_label_fields_are_accepted(string fields)
    {
        var (status, json) = await TestServers.PostAsync(_client, "/v1/chat/completions",
            $$"""{"messages": [{"role":"user","content":"hi"}], "max_tokens": 3, {{fields}}}""");
        Assert.Equal(200, status);
        Assert.Equal("the", json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    // Defect 6: a prompt that cannot fit is refused before it is tokenized, and bodies are bounded by the window.
    [Theory]
    [InlineData("/v1/completions", "prompt")]
    [InlineData("/v1/chat/completions", "messages")]
    public async Task A_prompt_longer_than_any_window_can_spell_is_400_untokenized(string path, string param)
    {
        var text = new string('x', _server.Model!.MaxPromptChars + 1);
        var body = path == "/v1/completions"
            ? $$"""{"prompt": "{{text}}", "max_tokens": 1}"""
            : $$"""{"messages": [{"role":"user","content":"{{text}}"}]}""";
        var (status, json) = await TestServers.PostAsync(_client, path, body);
        Assert.Equal(400, status);
        ErrorResponseTests.AssertError(json, "invalid_request_error", param);
        Assert.Contains("characters", json.GetProperty("error").GetProperty("message").GetString());
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task The_default_body_limit_follows_max_model_len()
    {
        var big = "{\"prompt\": \"" + new string('x', (int)RequestBodyLimit.Floor) + "\"}";
        // Expect: 100-continue, as curl sends for large bodies: the server answers 413 from the headers and the client
        // never sends the body. Without it the client may still be writing when the server closes the connection
        // after its 413, and then sees a broken pipe instead of the response (CI failed on that race once).
        var (status, json) = await SendAsync("/v1/completions", Encoding.UTF8.GetBytes(big), "application/json", expectContinue: true);
        Assert.Equal(413, status);
        Assert.Contains(RequestBodyLimit.Floor.ToString(), json.GetProperty("error").GetProperty("message").GetString());
        await AssertStillServesAsync();
    }

    // Smaller item: a queued stream sees its status line and headers before the engine produces anything.
    [Fact]
    public async Task A_stream_sends_its_headers_before_the_first_token()
    {
        var engine = new ScriptedEngine { Gate = new SemaphoreSlim(0) };
        await using var server = await TestServers.StartAsync(TestServers.ScriptedModel(engine));
        using var client = TestServers.Client(server);
        var send = client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = TestServers.Json("""{"messages": [{"role":"user","content":"hi"}], "max_tokens": 3, "stream": true}"""),
        }, HttpCompletionOption.ResponseHeadersRead);
        // Not a speed assertion: before the fix the headers waited for the gate, which only opens below.
        var first = await Task.WhenAny(send, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.Same(send, first);
        using var response = await send;
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0, engine.Running);
        engine.Gate.Release();
        var events = TestServers.SseData(await response.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", events[^1]);
    }
}
