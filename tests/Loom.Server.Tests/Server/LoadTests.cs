using System.Net;
using System.Text;
using System.Text.Json;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Server.Hosting;
using Loom.Server.Tests.Server.Fakes;
using Loom.Tests;

namespace Loom.Server.Tests.Server;

/// <summary>
/// 200 concurrent streaming requests on the real engine, 20% of which hang up at random points. Every other request
/// must complete with exactly the greedy text it gets alone; afterwards nothing runs, nothing waits, the KV cache is empty.
/// </summary>
public sealed class LoadTests
{
    [Fact]
    public async Task Two_hundred_streams_with_random_disconnects_leave_the_engine_clean()
    {
        var engineOptions = new EngineOptions { IdleSelfCheck = true, MaxNumSeqs = 64 };
        var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", Engine = engineOptions });
        await using var server = await TestServers.StartAsync(EngineHost.Start(model, engineOptions),
            new ServerOptions { MaxNumSeqs = 64, MaxWaiting = 1000 });
        using var client = TestServers.HangUpClient(server);
        string[] prompts = ["Large language model", "We propose", "The KV cache", "In this paper", "Speculative decoding"];
        const int maxTokens = 6;

        var expected = new Dictionary<string, string>();
        foreach (var p in prompts) expected[p] = await StreamTextAsync(client, p, maxTokens, hangUpAfter: null);

        var random = new Random(42);
        var plan = Enumerable.Range(0, 200)
            .Select(i => (Prompt: prompts[i % prompts.Length], HangUpAfter: i % 5 == 0 ? random.Next(0, 4) : (int?)null))
            .ToList();
        var results = await Task.WhenAll(plan.Select(p => Task.Run(() => StreamTextAsync(client, p.Prompt, maxTokens, p.HangUpAfter))));

        int completed = 0;
        for (int i = 0; i < plan.Count; i++)
        {
            if (plan[i].HangUpAfter is not null) continue;
            Assert.Equal(expected[plan[i].Prompt], results[i]);
            completed++;
        }
        Assert.Equal(160, completed);

        await TestServers.WaitUntilAsync(() =>
        {
            var s = server.Model!.Engine.GetStats();
            return s.NumRunning == 0 && s.NumWaiting == 0 && s.NumBlocksUsed == 0;
        }, "the engine is idle");
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("\nloom_num_requests_running 0\n", metrics);
        Assert.Contains("\nloom_num_requests_waiting 0\n", metrics);
        Assert.Contains("\nloom_kv_cache_usage_perc 0\n", metrics);
        Assert.Equal(200, (await TestServers.PostAsync(client, "/v1/completions", "{\"prompt\": \"We\", \"max_tokens\": 2}")).Status);
    }

    /// <summary>Greedy streamed completion text; with hangUpAfter, the client disconnects after that many events.</summary>
    private static async Task<string> StreamTextAsync(HttpClient client, string prompt, int maxTokens, int? hangUpAfter)
    {
        var body = JsonSerializer.Serialize(new { prompt, max_tokens = maxTokens, temperature = 0, stream = true });
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = TestServers.Json(body),
        }, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var text = new StringBuilder();
        int events = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            if (hangUpAfter is { } n && events++ >= n) return ""; // disposing the response hangs up
            var data = line["data: ".Length..];
            if (data == "[DONE]") return text.ToString();
            text.Append(JsonDocument.Parse(data).RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        }
        throw new InvalidOperationException("The stream ended without [DONE].");
    }
}
