using System.Text.Json;
using Loom.Server.Tests.Server.Fakes;

namespace Loom.Server.Tests.Server;

/// <summary>
/// /v1/completions with echo and logprobs on the demo model: the prompt's tokens lead the logprobs (first one null),
/// then the generated ones, whole and streamed, and the numbers agree with what the engine scores.
/// </summary>
public sealed class PromptLogprobsTests(DemoServerFixture fixture) : IClassFixture<DemoServerFixture>
{
    private const string Body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 3, \"temperature\": 0, \"ignore_eos\": true, " +
        "\"echo\": true, \"logprobs\": 2";

    [Fact]
    public async Task Echo_with_logprobs_scores_the_prompt_then_the_completion()
    {
        using var client = TestServers.Client(fixture.Server, DemoServerFixture.ApiKey);
        var (status, json) = await TestServers.PostAsync(client, "/v1/completions", Body + ", \"return_token_ids\": true}");
        Assert.Equal(200, status);
        var choice = json.GetProperty("choices")[0];
        var promptIds = choice.GetProperty("prompt_token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var lp = choice.GetProperty("logprobs");
        var tokens = lp.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()).ToArray();
        var values = lp.GetProperty("token_logprobs").EnumerateArray().ToArray();
        var tops = lp.GetProperty("top_logprobs").EnumerateArray().ToArray();
        var offsets = lp.GetProperty("text_offset").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        Assert.Equal(promptIds.Length + 3, tokens.Length);
        Assert.Equal(JsonValueKind.Null, values[0].ValueKind);
        Assert.Equal(JsonValueKind.Null, tops[0].ValueKind);
        for (int i = 1; i < values.Length; i++)
        {
            Assert.True(values[i].GetSingle() <= 0, $"token {i}: logprob {values[i]}");
            Assert.InRange(tops[i].EnumerateObject().Count(), 1, 2); // top-2 (two ids may decode to one string)
            float best = tops[i].EnumerateObject().Max(p => p.Value.GetSingle());
            Assert.True(values[i].GetSingle() <= best + 1e-5f);
        }
        // Greedy: each generated token is its row's best.
        for (int i = promptIds.Length; i < values.Length; i++)
            Assert.Equal(tops[i].EnumerateObject().Max(p => p.Value.GetSingle()), values[i].GetSingle(), 1e-5f);
        Assert.Equal(0, offsets[0]);
        Assert.True(offsets.Zip(offsets.Skip(1)).All(p => p.First <= p.Second));
        Assert.StartsWith("Once upon a time", choice.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Streamed_echo_carries_the_same_prompt_logprobs_first()
    {
        using var client = TestServers.Client(fixture.Server, DemoServerFixture.ApiKey);
        var (_, whole) = await TestServers.PostAsync(client, "/v1/completions", Body + "}");
        var wholeLp = whole.GetProperty("choices")[0].GetProperty("logprobs");

        using var response = await client.PostAsync("/v1/completions", TestServers.Json(Body + ", \"stream\": true}"));
        var events = TestServers.SseData(await response.Content.ReadAsStringAsync());
        var choices = events[..^1].Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")[0]).ToList();
        Assert.Equal("Once upon a time", choices[0].GetProperty("text").GetString());
        var streamed = choices.Where(c => c.GetProperty("logprobs").ValueKind == JsonValueKind.Object)
            .SelectMany(c => c.GetProperty("logprobs").GetProperty("token_logprobs").EnumerateArray())
            .Select(v => v.ValueKind == JsonValueKind.Null ? (float?)null : v.GetSingle()).ToArray();
        var expected = wholeLp.GetProperty("token_logprobs").EnumerateArray()
            .Select(v => v.ValueKind == JsonValueKind.Null ? (float?)null : v.GetSingle()).ToArray();
        Assert.Equal(expected, streamed);
        Assert.Equal(whole.GetProperty("choices")[0].GetProperty("text").GetString(),
            string.Concat(choices.Select(c => c.GetProperty("text").GetString())));
    }
}
