using System.Text.Json;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;

namespace Loom.Server.Tests.Server;

/// <summary>Response shapes and SSE framing, against a scripted engine whose output is known letter by letter.</summary>
public sealed class ApiShapeTests : IAsyncLifetime
{
    private LoomServer _server = null!;
    private HttpClient _client = null!;
    private readonly ScriptedEngine _engine = new() { CachedTokens = 4 };

    public async Task InitializeAsync()
    {
        _server = await TestServers.StartAsync(TestServers.ScriptedModel(_engine));
        _client = TestServers.Client(_server);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    private const string Hi = """[{"role":"user","content":"hi"}]""";

    [Theory]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"max_tokens\": 3}")]
    [InlineData("/v1/chat/completions", "{\"messages\": " + Hi + ", \"max_tokens\": 3, \"stream\": true, \"stream_options\": {\"include_usage\": true}}")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 3}")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 3, \"stream\": true, \"stream_options\": {\"include_usage\": true}}")]
    public async Task Prompt_tokens_details_can_be_left_out(string path, string body)
    {
        // --disable-prompt-tokens-details: cache hits would let one tenant confirm guesses about another's prompt.
        await using var server = await TestServers.StartAsync(TestServers.ScriptedModel(new ScriptedEngine { CachedTokens = 4 }),
            new ServerOptions { EnablePromptTokensDetails = false });
        using var client = TestServers.Client(server);
        using var response = await client.PostAsync(path, TestServers.Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Contains("\"prompt_tokens\"", text);
        Assert.DoesNotContain("prompt_tokens_details", text);
        Assert.DoesNotContain("cached_tokens", text);
    }

    [Fact]
    public async Task Chat_completion_has_openai_shape_and_usage_with_cached_tokens()
    {
        var (status, json) = await TestServers.PostAsync(_client, "/v1/chat/completions",
            "{\"model\": \"scripted\", \"messages\": " + Hi + ", \"max_tokens\": 9, \"n\": 2}");
        Assert.Equal(200, status);
        Assert.StartsWith("chatcmpl-", json.GetProperty("id").GetString());
        Assert.Equal("chat.completion", json.GetProperty("object").GetString());
        Assert.Equal("scripted", json.GetProperty("model").GetString());
        var choices = json.GetProperty("choices");
        Assert.Equal(2, choices.GetArrayLength());
        Assert.Equal("assistant", choices[0].GetProperty("message").GetProperty("role").GetString());
        Assert.Equal("the quick", choices[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("he quick ", choices[1].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("length", choices[1].GetProperty("finish_reason").GetString());
        int promptTokens = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n".Length;
        var usage = json.GetProperty("usage");
        Assert.Equal(promptTokens, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(18, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(promptTokens + 18, usage.GetProperty("total_tokens").GetInt32());
        Assert.Equal(4, usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
    }

    [Fact]
    public async Task Chat_stream_is_sse_with_role_first_finish_last_usage_then_done()
    {
        using var response = await _client.PostAsync("/v1/chat/completions", TestServers.Json(
            "{\"messages\": " + Hi + ", \"max_tokens\": 5, \"stream\": true, \"stream_options\": {\"include_usage\": true}}"));
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var events = TestServers.SseData(await response.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());

        var first = chunks[0].GetProperty("choices")[0];
        Assert.Equal("assistant", first.GetProperty("delta").GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("finish_reason").ValueKind);

        var usageChunk = chunks[^1];
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        Assert.Equal(5, usageChunk.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        var contentChunks = chunks[1..^1].Select(c => c.GetProperty("choices")[0]).ToList();
        Assert.Equal("the q", string.Concat(contentChunks.Select(c => c.GetProperty("delta").GetProperty("content").GetString())));
        Assert.All(contentChunks[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("finish_reason").ValueKind));
        Assert.Equal("length", contentChunks[^1].GetProperty("finish_reason").GetString());
        Assert.All(chunks[..^1], c => Assert.False(c.TryGetProperty("usage", out _)));
    }

    [Fact]
    public async Task Stream_without_include_usage_sends_no_usage_chunk()
    {
        using var response = await _client.PostAsync("/v1/chat/completions", TestServers.Json(
            "{\"messages\": " + Hi + ", \"max_tokens\": 3, \"stream\": true}"));
        var events = TestServers.SseData(await response.Content.ReadAsStringAsync());
        Assert.All(events[..^1], e => Assert.NotEqual(0, JsonDocument.Parse(e).RootElement.GetProperty("choices").GetArrayLength()));
    }

    [Fact]
    public async Task Chat_logprobs_have_tokens_bytes_and_top_alternatives()
    {
        var (status, json) = await TestServers.PostAsync(_client, "/v1/chat/completions",
            "{\"messages\": " + Hi + ", \"max_tokens\": 3, \"logprobs\": true, \"top_logprobs\": 2}");
        Assert.Equal(200, status);
        var content = json.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content");
        Assert.Equal(3, content.GetArrayLength());
        Assert.Equal("t", content[0].GetProperty("token").GetString());
        Assert.Equal(-0.5f, content[0].GetProperty("logprob").GetSingle());
        Assert.Equal([(int)'t'], content[0].GetProperty("bytes").EnumerateArray().Select(b => b.GetInt32()));
        Assert.Equal(2, content[0].GetProperty("top_logprobs").GetArrayLength());
        Assert.Equal("b", content[0].GetProperty("top_logprobs")[1].GetProperty("token").GetString());
    }

    [Fact]
    public async Task Completions_accept_every_prompt_form_and_number_choices_by_prompt_then_sample()
    {
        foreach (var (prompt, prompts) in new[] { ("\"ab\"", 1), ("[\"ab\", \"cd\"]", 2), ("[97, 98]", 1), ("[[97], [98, 99], [100]]", 3) })
        {
            var (status, json) = await TestServers.PostAsync(_client, "/v1/completions",
                $"{{\"prompt\": {prompt}, \"max_tokens\": 4, \"n\": 2, \"return_token_ids\": true}}");
            Assert.Equal(200, status);
            Assert.Equal("text_completion", json.GetProperty("object").GetString());
            var choices = json.GetProperty("choices");
            Assert.Equal(prompts * 2, choices.GetArrayLength());
            for (int i = 0; i < choices.GetArrayLength(); i++)
            {
                Assert.Equal(i, choices[i].GetProperty("index").GetInt32());
                Assert.Equal(i % 2 == 0 ? "the " : "he q", choices[i].GetProperty("text").GetString());
                Assert.Equal(choices[i].GetProperty("text").GetString()!.Select(c => (int)c),
                    choices[i].GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()));
            }
            Assert.Equal(prompts * 8, json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        }
    }

    [Fact]
    public async Task Completions_echo_prepends_the_prompt_and_logprobs_use_the_legacy_shape()
    {
        var (_, echoed) = await TestServers.PostAsync(_client, "/v1/completions", "{\"prompt\": \"Say: \", \"max_tokens\": 3, \"echo\": true}");
        Assert.Equal("Say: the", echoed.GetProperty("choices")[0].GetProperty("text").GetString());

        var (_, json) = await TestServers.PostAsync(_client, "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 3, \"logprobs\": 1}");
        var lp = json.GetProperty("choices")[0].GetProperty("logprobs");
        Assert.Equal(["t", "h", "e"], lp.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal([0, 1, 2], lp.GetProperty("text_offset").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(-0.5f, lp.GetProperty("token_logprobs")[0].GetSingle());
        Assert.Equal(-1f, lp.GetProperty("top_logprobs")[0].GetProperty("a").GetSingle());
    }

    [Fact]
    public async Task Completions_stream_carries_text_then_done()
    {
        using var response = await _client.PostAsync("/v1/completions", TestServers.Json(
            "{\"prompt\": \"x\", \"max_tokens\": 6, \"stream\": true, \"echo\": true}"));
        var events = TestServers.SseData(await response.Content.ReadAsStringAsync());
        var choices = events[..^1].Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")[0]).ToList();
        Assert.Equal("xthe qu", string.Concat(choices.Select(c => c.GetProperty("text").GetString())));
        Assert.Equal("length", choices[^1].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Stop_string_ends_with_finish_reason_stop()
    {
        var (_, json) = await TestServers.PostAsync(_client, "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 30, \"stop\": \"k\"}");
        var choice = json.GetProperty("choices")[0];
        Assert.Equal("the quic", choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.Equal("k", choice.GetProperty("stop_reason").GetString());
    }

    [Fact]
    public async Task Models_lists_the_served_model()
    {
        using var response = await _client.GetAsync("/v1/models");
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("list", json.GetProperty("object").GetString());
        Assert.Equal("scripted", json.GetProperty("data")[0].GetProperty("id").GetString());
        Assert.Equal("model", json.GetProperty("data")[0].GetProperty("object").GetString());
        Assert.Equal(256, json.GetProperty("data")[0].GetProperty("max_model_len").GetInt32());
        // Loom's extra for `bench serve`: the vocabulary prompt token ids must stay below.
        Assert.True(json.GetProperty("data")[0].GetProperty("vocab_size").GetInt32() > 1);
    }

    [Fact]
    public async Task Health_is_200_and_metrics_export_engine_gauges_and_latency_histograms()
    {
        Assert.Equal(200, (int)(await _client.GetAsync("/health")).StatusCode);
        await TestServers.PostAsync(_client, "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 3}");
        var metrics = await _client.GetStringAsync("/metrics");
        foreach (var name in new[] { "loom_num_requests_running 0", "loom_num_requests_waiting 0", "loom_kv_cache_usage_perc 0",
                     "loom_prefix_cache_hit_rate", "loom_prompt_tokens_total", "loom_generation_tokens_total",
                     "loom_time_to_first_token_seconds_count", "loom_time_per_output_token_seconds_count",
                     "loom_e2e_request_latency_seconds_count", "loom_request_success_total{finished_reason=\"length\"}",
                     "loom_cache_config_info{block_size=\"16\",num_gpu_blocks=\"100\"} 1" })
            Assert.Contains(name, metrics);
        Assert.DoesNotContain("loom_e2e_request_latency_seconds_count 0\n", metrics);
    }
}
