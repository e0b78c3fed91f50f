using System.Text.Json;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;

namespace Loom.Server.Tests.Server;

/// <summary>Every refusal has OpenAI's error shape, the right status, type and param.</summary>
public sealed class ErrorResponseTests : IAsyncLifetime
{
    private LoomServer _server = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServers.StartAsync(TestServers.ScriptedModel(maxModelLen: 64),
            new ServerOptions { MaxRequestBodyBytes = 4096 });
        _client = TestServers.Client(_server);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    private const string Hi = """[{"role":"user","content":"hi"}]""";

    [Theory]
    [InlineData("/v1/chat/completions", "{\"messages\": [", null)]
    [InlineData("/v1/chat/completions", "[1,2]", null)]
    [InlineData("/v1/chat/completions", "{\"messages\": []}", "messages")]
    [InlineData("/v1/chat/completions", "{}", "messages")]
    [InlineData("/v1/chat/completions", "{\"messages\": [{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0].role")]
    [InlineData("/v1/chat/completions", "{\"messages\": [{\"content\":\"x\"}]}", "messages[0].role")]
    [InlineData("/v1/chat/completions", "{\"messages\": [{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", "messages[0].content[0]")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"temperature\": -1}", "temperature")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"temperature\": \"hot\"}", "temperature")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"top_p\": 0}", "top_p")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"top_k\": -5}", "top_k")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"min_p\": 2}", "min_p")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"presence_penalty\": 3}", "presence_penalty")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"frequency_penalty\": -3}", "frequency_penalty")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"repetition_penalty\": 0}", "repetition_penalty")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"n\": 0}", "n")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"stop\": 5}", "stop")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"max_tokens\": 0}", "max_tokens")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"max_completion_tokens\": 0}", "max_completion_tokens")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"max_tokens\": 60}", "max_tokens")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"max_completion_tokens\": 60}", "max_completion_tokens")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"top_logprobs\": 3}", "top_logprobs")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"logprobs\": true, \"top_logprobs\": 30}", "top_logprobs")]
    [InlineData("/v1/chat/completions", "{\"messages\": [{\"role\":\"user\",\"content\":\"" +
        "a very long message that does not fit into the sixty-four token window of this model at all\"}]}", "messages")]
    [InlineData("/v1/completions", "{\"prompt\": \"\"}", "prompt")]
    [InlineData("/v1/completions", "{}", "prompt")]
    [InlineData("/v1/completions", "{\"prompt\": []}", "prompt")]
    [InlineData("/v1/completions", "{\"prompt\": [1, \"a\"]}", "prompt")]
    [InlineData("/v1/completions", "{\"prompt\": [1, 99999]}", "prompt")]
    [InlineData("/v1/completions", "{\"prompt\": \"hello\", \"max_tokens\": 100}", "max_tokens")]
    [InlineData("/v1/completions", "{\"prompt\": \"hello\", \"logprobs\": 21}", "logprobs")]
    [InlineData("/v1/completions", "{\"prompt\": \"hello\", \"suffix\": \"x\"}", "suffix")]
    [InlineData("/detokenize", "{\"tokens\": [-1]}", "tokens")]
    [InlineData("/tokenize", "{}", "prompt")]
    [InlineData("/tokenize", "{\"messages\": [{\"role\":\"bogus\",\"content\":\"x\"}]}", "messages[0].role")]
    public async Task Invalid_requests_are_400_with_the_field_named(string path, string body, string? param)
    {
        var (status, json) = await TestServers.PostAsync(_client, path, body);
        Assert.Equal(400, status);
        AssertError(json, "invalid_request_error", param);
    }

    [Fact]
    public async Task Unknown_model_is_404()
    {
        var (status, json) = await TestServers.PostAsync(_client, "/v1/chat/completions",
            "{\"model\": \"gpt-17\", \"messages\": " + Hi + "}");
        Assert.Equal(404, status);
        AssertError(json, "not_found_error", "model");
        Assert.Equal("model_not_found", json.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Body_over_the_limit_is_413()
    {
        var big = "{\"prompt\": \"" + new string('x', 10_000) + "\"}";
        var (status, json) = await TestServers.PostAsync(_client, "/v1/completions", big);
        Assert.Equal(413, status);
        AssertError(json, "invalid_request_error", null);
    }

    [Fact]
    public async Task A_valid_request_still_works_after_the_bad_ones()
    {
        var (status, json) = await TestServers.PostAsync(_client, "/v1/chat/completions",
            "{\"messages\": " + Hi + ", \"max_tokens\": 3}");
        Assert.Equal(200, status);
        Assert.Equal("the", json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    internal static void AssertError(JsonElement json, string type, string? param)
    {
        var error = json.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal(type, error.GetProperty("type").GetString());
        var actual = error.GetProperty("param");
        if (param is null) Assert.Equal(JsonValueKind.Null, actual.ValueKind);
        else Assert.Equal(param, actual.GetString());
        Assert.True(error.TryGetProperty("code", out _));
    }
}
