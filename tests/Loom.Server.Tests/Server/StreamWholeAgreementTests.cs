using System.Text;
using System.Text.Json;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;

namespace Loom.Server.Tests.Server;

/// <summary>
/// Issue 11, item 4: chat and completions fold the engine's outputs through one choice accumulator, streamed or whole,
/// so a stream put back together equals the whole response: the same choices (text, finish_reason, stop_reason, token
/// ids) and the same usage.
/// </summary>
public sealed class StreamWholeAgreementTests : IAsyncLifetime
{
    private LoomServer _server = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServers.StartAsync(TestServers.ScriptedModel(new ScriptedEngine { CachedTokens = 2 }));
        _client = TestServers.Client(_server);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Theory]
    [InlineData("/v1/chat/completions", """{"messages": [{"role":"user","content":"hi"}], "max_tokens": 9, "n": 3, "stop": "ck"}""")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role":"user","content":"hi"}], "max_tokens": 4, "logprobs": true, "top_logprobs": 1}""")]
    [InlineData("/v1/completions", """{"prompt": ["ab", "cde"], "max_tokens": 7, "n": 2, "stop": [" b"], "return_token_ids": true}""")]
    [InlineData("/v1/completions", """{"prompt": "ab", "max_tokens": 5, "echo": true, "n": 2}""")]
    [InlineData("/v1/completions", """{"prompt": "ab", "max_tokens": 5, "logprobs": 1}""")]
    public async Task A_stream_put_together_equals_the_whole_response(string path, string body)
    {
        var (status, whole) = await TestServers.PostAsync(_client, path, body);
        Assert.Equal(200, status);
        var streamed = await StreamAsync(path, body);

        var expected = whole.GetProperty("choices").EnumerateArray().Select(Choice.FromWhole).ToList();
        Assert.Equal(expected, streamed.Choices);
        Assert.Equal(whole.GetProperty("usage").GetRawText(), streamed.Usage);
    }

    private async Task<(List<Choice> Choices, string Usage)> StreamAsync(string path, string body)
    {
        var streamBody = body.TrimEnd('}') + """, "stream": true, "stream_options": {"include_usage": true}}""";
        using var response = await _client.PostAsync(path, TestServers.Json(streamBody));
        Assert.Equal(200, (int)response.StatusCode);
        var events = TestServers.SseData(await response.Content.ReadAsStringAsync());
        var choices = new SortedDictionary<int, ChoiceBuilder>();
        string? usage = null;
        foreach (var e in events[..^1])
        {
            var chunk = JsonDocument.Parse(e).RootElement;
            if (chunk.TryGetProperty("usage", out var u)) usage = u.GetRawText();
            foreach (var c in chunk.GetProperty("choices").EnumerateArray())
            {
                int index = c.GetProperty("index").GetInt32();
                if (!choices.TryGetValue(index, out var builder)) choices[index] = builder = new ChoiceBuilder();
                builder.Add(c);
            }
        }
        Assert.NotNull(usage);
        return (choices.Values.Select(b => b.Build()).ToList(), usage);
    }

    /// <summary>One choice as a client sees it in the end; token ids and logprob tokens joined for comparison.</summary>
    private sealed record Choice(string Text, string? FinishReason, string? StopReason, string TokenIds, string LogprobTokens)
    {
        public static Choice FromWhole(JsonElement c) => new(
            c.TryGetProperty("message", out var m) ? m.GetProperty("content").GetString()! : c.GetProperty("text").GetString()!,
            c.GetProperty("finish_reason").GetString(),
            StopReasonOf(c),
            c.TryGetProperty("token_ids", out var ids) ? string.Join(",", ids.EnumerateArray().Select(i => i.GetInt32())) : "",
            string.Join("|", LogprobTokensOf(c)));
    }

    private sealed class ChoiceBuilder
    {
        private readonly StringBuilder _text = new();
        private readonly List<int> _tokenIds = [];
        private readonly List<string> _logprobTokens = [];
        private string? _finish, _stop;

        public void Add(JsonElement c)
        {
            var text = c.TryGetProperty("delta", out var d) ? (d.TryGetProperty("content", out var t) ? t.GetString() : null)
                : c.GetProperty("text").GetString();
            _text.Append(text);
            if (c.GetProperty("finish_reason").GetString() is { } finish) _finish = finish;
            _stop ??= StopReasonOf(c);
            if (c.TryGetProperty("token_ids", out var ids)) _tokenIds.AddRange(ids.EnumerateArray().Select(i => i.GetInt32()));
            _logprobTokens.AddRange(LogprobTokensOf(c));
        }

        public Choice Build() => new(_text.ToString(), _finish, _stop, string.Join(",", _tokenIds), string.Join("|", _logprobTokens));
    }

    private static string? StopReasonOf(JsonElement c) => c.TryGetProperty("stop_reason", out var s) ? s.ToString() : null;

    /// <summary>The tokens the logprobs cover, in chat's content list or completions' parallel lists.</summary>
    private static IEnumerable<string> LogprobTokensOf(JsonElement c)
    {
        if (!c.TryGetProperty("logprobs", out var lp) || lp.ValueKind == JsonValueKind.Null) return [];
        return lp.TryGetProperty("content", out var content)
            ? content.EnumerateArray().Select(t => t.GetProperty("token").GetString()!)
            : lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!);
    }
}
