using Loom.Tests;
using System.Net;
using System.Text;
using System.Text.Json;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;

namespace Loom.Server.Tests.Server;

/// <summary>Shares one live server on the real engine (demo model) with fault hooks among the tests of a class.</summary>
public sealed class FaultyEngineFixture : IAsyncLifetime
{
    public LoomServer Server { get; private set; } = null!;
    internal FaultyExecutor Executor { get; private set; } = null!;
    /// <summary>Greedy texts of <see cref="HostileRequestTests.Benign"/> when the server is quiet.</summary>
    public Dictionary<string, string> Expected { get; } = new();

    public async Task InitializeAsync() => (Server, Executor) = await FaultyEngineServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// Issue 16: requests that used to kill the engine for everyone (max_tokens overflow, sampling on a row with no finite
/// logit, a fault while sampling one request, NaN logits) now get their own answer, and every other client keeps
/// getting exactly the text it gets alone, during and after. Also logit_bias and cache_salt end to end.
/// </summary>
public sealed class HostileRequestTests(FaultyEngineFixture fixture) : IClassFixture<FaultyEngineFixture>
{
    internal static readonly string[] Benign = ["Large language model", "We propose", "The KV cache"];
    private LoomServer Server => fixture.Server;

    [Theory]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 2147483647}", "max_tokens")]
    [InlineData("/v1/completions", "{\"prompt\": [5, 6], \"max_tokens\": 2147483646}", "max_tokens")]
    [InlineData("/v1/chat/completions", "{\"messages\": [{\"role\":\"user\",\"content\":\"hi\"}], \"max_completion_tokens\": 2147483647}", "max_completion_tokens")]
    [InlineData("/v1/chat/completions", "{\"messages\": [{\"role\":\"user\",\"content\":\"hi\"}], \"max_tokens\": 2147483647}", "max_tokens")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"logit_bias\": {\"99999999\": 1}}", "logit_bias")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"logit_bias\": {\"-1\": 1}}", "logit_bias")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"logit_bias\": {\"a\": 1}}", "logit_bias")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"logit_bias\": {\"5\": 100.5}}", "logit_bias")]
    [InlineData("/v1/chat/completions", "{\"messages\": [{\"role\":\"user\",\"content\":\"hi\"}], \"logit_bias\": {\"5\": \"x\"}}", "logit_bias.5")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"cache_salt\": \"\"}", "cache_salt")]
    public async Task Refused_with_400_naming_the_field_while_others_are_served(string path, string body, string param)
    {
        await WhileOthersAreServed(async client =>
        {
            var (status, json) = await TestServers.PostAsync(client, path, body);
            Assert.Equal(400, status);
            Assert.Equal(param, json.GetProperty("error").GetProperty("param").GetString());
        });
    }

    [Theory]
    [InlineData("\"temperature\": 1, \"min_tokens\": 2, \"stop_token_ids\": ALL")]
    [InlineData("\"temperature\": 0.8, \"top_p\": 0.9, \"min_tokens\": 1, \"stop_token_ids\": ALL")]
    [InlineData("\"temperature\": 1, \"top_p\": 1, \"repetition_penalty\": 1e-38")]
    [InlineData("\"temperature\": 0.5, \"top_p\": 0.5, \"repetition_penalty\": 1e-38")]
    public async Task Rows_with_no_finite_logit_are_sampled_not_fatal(string fields)
    {
        int vocab = Server.Model!.Tokenizer.VocabSize;
        var body = "{\"prompt\": \"We propose\", \"max_tokens\": 4, \"seed\": 1, " +
            fields.Replace("ALL", "[" + string.Join(",", Enumerable.Range(0, vocab)) + "]") + "}";
        await WhileOthersAreServed(async client =>
        {
            var (status, json) = await TestServers.PostAsync(client, "/v1/completions", body);
            Assert.Equal(200, status);
            Assert.Equal(JsonValueKind.String, json.GetProperty("choices")[0].GetProperty("text").ValueKind);
        });
    }

    [Fact]
    public async Task A_sampling_fault_is_a_500_for_that_request_alone()
    {
        await WhileOthersAreServed(async client =>
        {
            var (status, json) = await TestServers.PostAsync(client, "/v1/completions",
                $"{{\"prompt\": \"We propose\", \"max_tokens\": 4, \"seed\": {FaultyEngineServer.SamplingFaultSeed}}}");
            Assert.Equal(500, status);
            Assert.Contains("injected sampling fault", json.GetProperty("error").GetProperty("message").GetString());
            Assert.Equal("internal_error", json.GetProperty("error").GetProperty("type").GetString());
        });
    }

    [Fact]
    public async Task A_sampling_fault_in_a_stream_is_an_in_band_error_event()
    {
        await WhileOthersAreServed(async client =>
        {
            using var response = await client.PostAsync("/v1/chat/completions", TestServers.Json(
                $"{{\"messages\": [{{\"role\":\"user\",\"content\":\"hi\"}}], \"max_tokens\": 4, \"stream\": true, \"n\": 2, \"seed\": {FaultyEngineServer.SamplingFaultSeed}}}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var events = TestServers.SseData(await response.Content.ReadAsStringAsync());
            Assert.True(events.Count > 3, "the first tokens went out before the fault");
            var error = JsonDocument.Parse(events[^2]).RootElement.GetProperty("error");
            Assert.Contains("injected sampling fault", error.GetProperty("message").GetString());
        });
    }

    [Fact]
    public async Task NaN_logits_fail_the_requests_sampled_from_them_not_the_engine()
    {
        using var client = TestServers.Client(Server);
        fixture.Executor.NaNLogits = true;
        try
        {
            var (status, json) = await TestServers.PostAsync(client, "/v1/completions", "{\"prompt\": \"We propose\", \"max_tokens\": 3}");
            Assert.Equal(500, status);
            Assert.Contains("NaN", json.GetProperty("error").GetProperty("message").GetString());
        }
        finally
        {
            fixture.Executor.NaNLogits = false;
        }
        await WhileOthersAreServed(_ => Task.CompletedTask);
    }

    [Fact]
    public async Task Logit_bias_steers_the_completion()
    {
        using var client = TestServers.Client(Server);
        var (status, json) = await TestServers.PostAsync(client, "/v1/completions",
            "{\"prompt\": \"We propose\", \"max_tokens\": 5, \"temperature\": 0, \"return_token_ids\": true, \"logit_bias\": {\"77\": 100}}");
        Assert.Equal(200, status);
        var ids = json.GetProperty("choices")[0].GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal([77, 77, 77, 77, 77], ids);
    }

    [Fact]
    public async Task Cache_salt_keeps_tenants_from_sharing_prefix_blocks()
    {
        using var client = TestServers.Client(Server);
        var prompt = string.Concat(Enumerable.Repeat("Salted prompts never meet across tenants. ", 8));
        async Task<int> CachedTokens(string? salt)
        {
            var saltField = salt is null ? "" : $", \"cache_salt\": \"{salt}\"";
            var (status, json) = await TestServers.PostAsync(client, "/v1/completions",
                $"{{\"prompt\": \"{prompt}\", \"max_tokens\": 1{saltField}}}");
            Assert.Equal(200, status);
            return json.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        }
        Assert.Equal(0, await CachedTokens("tenant-a"));
        Assert.True(await CachedTokens("tenant-a") > 0, "the same salt shares the prefix");
        Assert.Equal(0, await CachedTokens("tenant-b"));
        Assert.Equal(0, await CachedTokens(null));
        Assert.True(await CachedTokens(null) > 0);
    }

    /// <summary>
    /// Runs <paramref name="hostile"/> while benign greedy streams run beside it, then once more after it: each must
    /// get exactly its quiet-server text, and the server must stay healthy.
    /// </summary>
    private async Task WhileOthersAreServed(Func<HttpClient, Task> hostile)
    {
        using var client = TestServers.Client(Server);
        if (fixture.Expected.Count == 0)
            foreach (var p in Benign) fixture.Expected[p] = await GreedyTextAsync(client, p);
        var beside = Benign.Select(p => GreedyTextAsync(client, p)).ToArray();
        await hostile(client);
        var during = await Task.WhenAll(beside);
        var after = await Task.WhenAll(Benign.Select(p => GreedyTextAsync(client, p)));
        for (int i = 0; i < Benign.Length; i++)
        {
            Assert.Equal(fixture.Expected[Benign[i]], during[i]);
            Assert.Equal(fixture.Expected[Benign[i]], after[i]);
        }
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
        Assert.Contains("\nloom_engine_dead 0\n", await client.GetStringAsync("/metrics"));
    }

    private static async Task<string> GreedyTextAsync(HttpClient client, string prompt)
    {
        var body = JsonSerializer.Serialize(new { prompt, max_tokens = 6, temperature = 0, stream = true });
        using var response = await client.PostAsync("/v1/completions", TestServers.Json(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = new StringBuilder();
        foreach (var data in TestServers.SseData(await response.Content.ReadAsStringAsync()).SkipLast(1))
            text.Append(JsonDocument.Parse(data).RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        return text.ToString();
    }
}

/// <summary>A fault in the shared forward pass kills the engine: health, metrics and every request say so.</summary>
public sealed class EngineDeathTests
{
    [Fact]
    public async Task A_dead_engine_fails_health_and_reports_itself_in_metrics()
    {
        var (server, executor) = await FaultyEngineServer.StartAsync();
        await using var _ = server;
        using var client = TestServers.Client(server);
        Assert.Equal(200, (await TestServers.PostAsync(client, "/v1/completions", "{\"prompt\": \"We\", \"max_tokens\": 2}")).Status);
        Assert.Contains("\nloom_engine_dead 0\n", await client.GetStringAsync("/metrics"));

        executor.Throw = true;
        var (status, json) = await TestServers.PostAsync(client, "/v1/completions", "{\"prompt\": \"We\", \"max_tokens\": 2}");
        Assert.Equal(503, status);
        Assert.Equal("engine_dead", json.GetProperty("error").GetProperty("code").GetString());
        await server.Model!.Engine.Died;

        using (var health = await client.GetAsync("/health")) Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        using (var models = await client.GetAsync("/v1/models")) Assert.Equal(HttpStatusCode.ServiceUnavailable, models.StatusCode);
        Assert.Contains("\nloom_engine_dead 1\n", await client.GetStringAsync("/metrics"));
        var (later, laterJson) = await TestServers.PostAsync(client, "/v1/chat/completions", "{\"messages\": [{\"role\":\"user\",\"content\":\"hi\"}]}");
        Assert.Equal(503, later);
        Assert.Contains("injected kernel fault", laterJson.GetProperty("error").GetProperty("message").GetString());
    }
}
