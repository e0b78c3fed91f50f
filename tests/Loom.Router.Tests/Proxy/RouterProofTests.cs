using System.Text.Json;
using Loom.Router.Routing;

namespace Loom.Router.Tests.Proxy;

/// <summary>1 router + 2 real Loom replicas on 127.0.0.1 (the demo model): each test starts and stops its own.</summary>
public sealed class RouterProofTests
{
    // ~10 blocks of 16 tokens on the demo tokenizer: well past cache_threshold once a replica holds it.
    private static readonly string SystemA = string.Join(' ', Enumerable.Repeat("You are a careful assistant for the accounts team.", 6));
    private static readonly string SystemB = string.Join(' ', Enumerable.Repeat("Answer as a terse pirate who loves maps and rum.", 6));

    [Fact]
    public async Task Requests_sharing_a_system_prompt_land_on_the_replica_that_holds_it()
    {
        await using var rig = await RouterRig.StartAsync();
        Assert.Equal(0, await rig.ChatAsync(SystemA, "first question"));
        int a = await rig.RoutedToAsync(0) == 1 ? 0 : 1;
        Assert.Equal(0, await rig.ChatAsync(SystemB, "first question")); // a new prefix goes to the emptier replica
        Assert.Equal(1, await rig.RoutedToAsync(1 - a));
        for (int i = 0; i < 3; i++)
        {
            Assert.True(await rig.ChatAsync(SystemA, $"question {i}") >= 64, "the replica holding system prompt A reports it cached");
            Assert.True(await rig.ChatAsync(SystemB, $"question {i}") >= 64, "the replica holding system prompt B reports it cached");
        }
        Assert.Equal((4, 4), (await rig.RoutedToAsync(a), await rig.RoutedToAsync(1 - a)));
        var metrics = await rig.Client.GetStringAsync("/metrics");
        Assert.Equal(6, RouterRig.MetricValue(metrics, "loom_router_routing_decisions_total{reason=\"prefix_affinity\"}"));
        Assert.True(RouterRig.MetricValue(metrics, "loom_router_prefix_match_tokens_count") >= 8);
    }

    [Fact]
    public async Task The_imbalance_guard_overrides_affinity()
    {
        // balance_abs_threshold 0: one request in flight is imbalance enough (the default 32 needs 33 concurrent requests).
        await using var rig = await RouterRig.StartAsync(new RoutingPolicyOptions { BalanceAbsThreshold = 0 });
        await rig.ChatAsync(SystemA, "warm up");
        int holder = await rig.RoutedToAsync(0) == 1 ? 0 : 1;
        // A long stream keeps the holder busy (one request in flight there) while the next request asks for its prefix.
        using var cancel = new CancellationTokenSource();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = RouterRig.Json(RouterRig.Chat(SystemA, "write a long story", maxTokens: 700, stream: true).Replace("}", ",\"ignore_eos\":true}")),
        };
        using var busy = await rig.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        using var reader = new StreamReader(await busy.Content.ReadAsStreamAsync(cancel.Token));
        Assert.StartsWith("data:", await reader.ReadLineAsync(cancel.Token));
        Assert.Equal(2, await rig.RoutedToAsync(holder));

        Assert.Equal(0, await rig.ChatAsync(SystemA, "while it is busy")); // the other replica: nothing cached there
        Assert.Equal(1, await rig.RoutedToAsync(1 - holder));
        var metrics = await rig.Client.GetStringAsync("/metrics");
        Assert.Equal(1, RouterRig.MetricValue(metrics, "loom_router_routing_decisions_total{reason=\"imbalance\"}"));
        await cancel.CancelAsync();
    }

    [Fact]
    public async Task A_stopped_replica_is_ejected_requests_keep_succeeding_and_it_is_readmitted_after_restart()
    {
        await using var rig = await RouterRig.StartAsync();
        await rig.StopReplicaAsync(1);
        for (int i = 0; i < 6; i++) await rig.ChatAsync($"tenant {i} " + SystemA, "hello"); // each would prefer the emptier replica 1
        Assert.Equal(200, (int)(await rig.Client.GetAsync("/health")).StatusCode);
        var metrics = await rig.Client.GetStringAsync("/metrics");
        Assert.True(RouterRig.MetricValue(metrics, "loom_router_retries_total{cause=\"connect\"}") <= 6);

        await rig.RestartReplicaAsync(1);
        double before = await rig.RoutedToAsync(1);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        int n = 0;
        while (await rig.RoutedToAsync(1) == before)
        {
            Assert.True(DateTime.UtcNow < deadline, "the restarted replica was not readmitted within 20 s");
            await rig.ChatAsync($"after restart {n++} " + SystemB, "hello");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_stopped_replica_loses_its_prefix_index_so_after_a_restart_affinity_does_not_point_at_an_empty_cache()
    {
        await using var rig = await RouterRig.StartAsync();
        await rig.ChatAsync(SystemA, "first question");
        int holder = await rig.RoutedToAsync(0) == 1 ? 0 : 1;
        var index = rig.Router.Replicas.IndexOf(ReplicaDirectory.DestinationId(holder))!;
        Assert.True(index.Count > 0);

        await rig.StopReplicaAsync(holder);
        await rig.Router.PollSignalsAsync(); // the scrape fails: the replica is unreachable
        Assert.Equal(0, index.Count);
    }

    [Fact]
    public async Task With_every_replica_stopped_the_router_answers_503_in_openai_shape()
    {
        await using var rig = await RouterRig.StartAsync();
        await rig.StopReplicaAsync(0);
        await rig.StopReplicaAsync(1);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        HttpResponseMessage health;
        while ((int)(health = await rig.Client.GetAsync("/health")).StatusCode != 503)
            Assert.True(DateTime.UtcNow < deadline, "the router still reports healthy replicas");
        using var json = JsonDocument.Parse(await health.Content.ReadAsStringAsync());
        Assert.Equal("no_healthy_replica", json.RootElement.GetProperty("error").GetProperty("code").GetString());
        using var response = await rig.Client.PostAsync("/v1/chat/completions", RouterRig.Json(RouterRig.Chat("s", "u")));
        Assert.Equal(503, (int)response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("no_healthy_replica", error.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_draining_replica_gets_no_new_requests()
    {
        await using var rig = await RouterRig.StartAsync();
        await rig.ChatAsync(SystemA, "warm up");
        int holder = await rig.RoutedToAsync(0) == 1 ? 0 : 1;
        await rig.Replica(holder).DrainAsync(TimeSpan.Zero);
        for (int i = 0; i < 4; i++) await rig.ChatAsync(SystemA, $"while draining {i}"); // each succeeds, on the other replica
        double served = await rig.RoutedToAsync(1 - holder);
        Assert.True(served >= 4, $"the other replica served {served} of the 4 requests");
    }

    [Fact]
    public async Task Streaming_passes_through_untouched()
    {
        await using var rig = await RouterRig.StartAsync();
        string body = RouterRig.Chat(SystemA, "tell me", maxTokens: 12, stream: true);
        using var routed = await rig.Client.PostAsync("/v1/chat/completions", RouterRig.Json(body));
        Assert.Equal("text/event-stream", routed.Content.Headers.ContentType?.MediaType);
        var viaRouter = await routed.Content.ReadAsStringAsync();
        int target = await rig.RoutedToAsync(0) == 1 ? 0 : 1;
        using var direct = new HttpClient();
        var straight = await (await direct.PostAsync(rig.Urls[target] + "/v1/chat/completions", RouterRig.Json(body))).Content.ReadAsStringAsync();
        Assert.EndsWith("data: [DONE]\n\n", viaRouter);
        Assert.Equal(Normalize(straight), Normalize(viaRouter));
    }

    [Fact]
    public async Task Bad_input_gets_the_replicas_openai_shaped_error()
    {
        await using var rig = await RouterRig.StartAsync();
        foreach (var bad in new[] { "{\"messages\": \"not a list\"}", "{not json", "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-1}" })
        {
            using var routed = await rig.Client.PostAsync("/v1/chat/completions", RouterRig.Json(bad));
            using var direct = new HttpClient();
            using var straight = await direct.PostAsync(rig.Urls[0] + "/v1/chat/completions", RouterRig.Json(bad));
            Assert.Equal(400, (int)routed.StatusCode);
            Assert.Equal(await straight.Content.ReadAsStringAsync(), await routed.Content.ReadAsStringAsync());
        }
        using var models = JsonDocument.Parse(await rig.Client.GetStringAsync("/v1/models"));
        Assert.Equal("demo", models.RootElement.GetProperty("data")[0].GetProperty("id").GetString());
    }

    /// <summary>An SSE body with the per-request id and timestamp blanked, so two runs of one greedy request compare equal.</summary>
    private static string Normalize(string sse) =>
        System.Text.RegularExpressions.Regex.Replace(sse, "\"(id|created)\":(\"[^\"]*\"|\\d+)", "\"$1\":_");
}
