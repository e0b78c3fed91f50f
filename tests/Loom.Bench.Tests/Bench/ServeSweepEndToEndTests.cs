using System.Text.Json;
using Loom.Bench.Client;
using Loom.Bench.Datasets;
using Loom.Bench.Metrics;
using Loom.Bench.Reporting;
using Loom.Bench.Serving;

namespace Loom.Bench.Tests.Bench;

/// <summary>The whole client path against a loopback fake server: pacing, streaming, timing, result JSON and plots.</summary>
public class ServeSweepEndToEndTests
{
    [Fact]
    public async Task A_short_sweep_produces_vllm_result_json_and_png_plots()
    {
        await using var server = await FakeOpenAiServer.StartAsync(TimeSpan.FromMilliseconds(30), TimeSpan.FromMilliseconds(5));
        using var http = OpenAiStreamingClient.CreateHttpClient(TimeSpan.FromSeconds(60));
        var target = new ServeTarget("fake", new OpenAiStreamingClient(http, EndpointTarget.Create(server.BaseUrl, "/v1/completions", "demo"), ignoreEos: true));
        var requests = new RandomDataset(new PromptFactory(512, PromptFormat.TokenIds), inputLen: 16, outputLen: 6).Sample(8, new Random(0));
        var options = new ServeRunOptions { Goodput = GoodputSlo.Parse(["ttft:10000", "tpot:10000"]), Seed = 0 };
        int done = 0;
        var runs = await new ServeSweep([target]).RunAsync(requests, [40, double.PositiveInfinity], options, onRequestDone: _ => Interlocked.Increment(ref done));

        Assert.Equal(16, done);
        Assert.Equal(16, server.RequestCount);
        Assert.All(server.Bodies, b =>
        {
            Assert.True(b.GetProperty("stream").GetBoolean());
            Assert.True(b.GetProperty("ignore_eos").GetBoolean());
            Assert.True(b.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
            Assert.Equal(16, b.GetProperty("prompt").GetArrayLength());
        });
        foreach (var (_, run) in runs)
        {
            var m = run.Metrics;
            Assert.Equal(8, m.Completed);
            Assert.Equal(0, m.Failed);
            Assert.All(m.ActualOutputLens, n => Assert.Equal(6, n));
            Assert.All(run.Outcomes, o => Assert.Equal(5, o.Itl.Count));
            Assert.All(run.Outcomes, o => Assert.Equal("t0 t1 t2 t3 t4 t5 ", o.GeneratedText));
            // The server waits 30 ms before the first token and 5 ms between tokens: lower bounds only, never upper.
            Assert.True(m.Ttft.MedianMs >= 30 * 0.9);
            Assert.True(m.Tpot.MedianMs >= 5 * 0.9);
            Assert.Equal(m.RequestThroughput, m.RequestGoodput!.Value, 9);
        }
        // At 40 req/s the 8th request is scheduled at 8 / 40 = 0.2 s, so that run cannot finish sooner.
        Assert.True(runs[0].Run.DurationS >= 0.2);

        string dir = Path.Combine(Path.GetTempPath(), "loom-bench-e2e-" + Guid.NewGuid().ToString("N"));
        try
        {
            var description = new RunDescription("fake", "openai", "demo", null, "random", BenchConditions.Describe([KeyValuePair.Create("server", "fake")]));
            string file = Path.Combine(dir, ResultJson.DefaultFileName(description, runs[0].Run));
            ResultJson.Write(ResultJson.Build(runs[0].Run, description), file);
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            var root = doc.RootElement;
            Assert.Equal(8, root.GetProperty("completed").GetInt32());
            foreach (var key in new[] { "duration", "request_throughput", "output_throughput", "total_token_throughput", "request_goodput",
                         "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "p99_tpot_ms", "mean_itl_ms", "p99_itl_ms", "mean_e2el_ms", "p99_e2el_ms" })
                Assert.True(root.GetProperty(key).GetDouble() > 0, key);
            Assert.Equal(40, root.GetProperty("request_rate").GetDouble());
            Assert.Equal("inf", ResultJson.Build(runs[1].Run, description)["request_rate"]!.GetValue<string>());
            Assert.Equal(8, root.GetProperty("itls").GetArrayLength());
            Assert.Equal(6, root.GetProperty("output_lens")[0].GetInt32());
            Assert.Equal("fake", root.GetProperty("conditions").GetProperty("server").GetString());
            Assert.StartsWith("fake-40qps-demo-", Path.GetFileName(file));

            var pngs = SweepPlots.Save(ServeSweep.ToSeries(runs), dir);
            Assert.Equal(2, pngs.Count);
            Assert.All(pngs, png => Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png).Take(4)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Max_concurrency_caps_requests_in_flight()
    {
        await using var server = await FakeOpenAiServer.StartAsync(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(2));
        using var http = OpenAiStreamingClient.CreateHttpClient(TimeSpan.FromSeconds(60));
        var client = new OpenAiStreamingClient(http, EndpointTarget.Create(server.BaseUrl, "/v1/completions", "demo"), ignoreEos: false);
        var requests = new RandomDataset(new PromptFactory(512, PromptFormat.TokenIds), 8, 4).Sample(9, new Random(1));
        var run = await new ServeBenchmark(client).RunAsync(requests, new ServeRunOptions { MaxConcurrency = 2 });
        Assert.Equal(9, run.Metrics.Completed);
        // With at most 2 in flight, no three request lifetimes overlap.
        var spans = run.Outcomes.Select(o => (Start: o.StartTime, End: o.StartTime + o.Latency)).ToArray();
        foreach (var s in spans)
            Assert.True(spans.Count(o => o.Start <= s.Start && s.Start < o.End) <= 2);
    }

    [Fact]
    public async Task Chat_endpoint_needs_text_and_streams_deltas()
    {
        await using var server = await FakeOpenAiServer.StartAsync(TimeSpan.Zero, TimeSpan.FromMilliseconds(1));
        using var http = OpenAiStreamingClient.CreateHttpClient(TimeSpan.FromSeconds(60));
        var client = new OpenAiStreamingClient(http, EndpointTarget.Create(server.BaseUrl, "/v1/chat/completions", "demo"), ignoreEos: false);
        var outcome = await client.SendAsync(new SampleRequest(BenchPrompt.OfText("hello"), 1, 3), System.Diagnostics.Stopwatch.GetTimestamp(), CancellationToken.None);
        Assert.True(outcome.Success, outcome.Error);
        Assert.Equal(3, outcome.OutputTokens);
        Assert.Equal("t0 t1 t2 ", outcome.GeneratedText);
        Assert.Equal("hello", server.Bodies[0].GetProperty("messages")[0].GetProperty("content").GetString());
    }

    [Fact]
    public async Task A_refused_connection_is_a_failed_request_not_a_crash()
    {
        using var http = OpenAiStreamingClient.CreateHttpClient(TimeSpan.FromSeconds(10));
        // Port 9 (discard) on loopback is closed in any test environment; nothing listens there.
        var client = new OpenAiStreamingClient(http, EndpointTarget.Create("http://127.0.0.1:9", "/v1/completions", "m"), ignoreEos: false);
        var outcome = await client.SendAsync(new SampleRequest(BenchPrompt.OfTokens([1, 2]), 2, 2), System.Diagnostics.Stopwatch.GetTimestamp(), CancellationToken.None);
        Assert.False(outcome.Success);
        Assert.Contains("HttpRequestException", outcome.Error);
    }
}
