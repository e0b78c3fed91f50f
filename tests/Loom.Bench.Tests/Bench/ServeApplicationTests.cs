using System.Text.Json;
using Loom.Bench.Metrics;
using Loom.Bench.Serving;
using Loom.Tests;
using Spectre.Console;

namespace Loom.Bench.Tests.Bench;

/// <summary>`loom bench serve` end to end minus the flag parsing: two loopback servers side by side, files written.</summary>
public class ServeApplicationTests
{
    [Fact]
    public async Task Two_servers_two_rates_write_one_json_per_run_and_the_plots()
    {
        await using var fast = await FakeOpenAiServer.StartAsync(TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(1));
        await using var slow = await FakeOpenAiServer.StartAsync(TimeSpan.FromMilliseconds(40), TimeSpan.FromMilliseconds(4));
        string dir = Path.Combine(Path.GetTempPath(), "loom-bench-app-" + Guid.NewGuid().ToString("N"));
        var console = new StringWriter();
        try
        {
            var settings = new ServeSettings
            {
                BaseUrls = [fast.BaseUrl, slow.BaseUrl],
                Labels = ["fast", "slow"],
                Model = RepoPaths.DemoModel, // gives tokenizer and vocabulary
                ServedModelName = "demo",
                PromptFormat = "text",
                DatasetName = "prefix",
                PrefixRepetitionPrefixLen = 24,
                PrefixRepetitionSuffixLen = 8,
                PrefixRepetitionNumPrefixes = 2,
                PrefixRepetitionOutputLen = 4,
                NumPrompts = 6,
                RequestRates = [50, double.PositiveInfinity],
                Goodput = GoodputSlo.Parse(["ttft:20"]),
                IgnoreEos = true,
                SaveResult = true,
                ResultDir = dir,
                ResultFilename = "run.json",
                Metadata = [KeyValuePair.Create("backend", "fake")],
                DisableProgress = true,
            };
            var ansi = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console), Interactive = InteractionSupport.No });
            int exit = await new ServeApplication(settings, ansi).RunAsync(CancellationToken.None);

            Assert.Equal(0, exit);
            var files = Directory.GetFiles(dir, "*.json").Select(f => Path.GetFileName(f)!).Order().ToArray();
            Assert.Equal(["run-fast-50qps.json", "run-fast-infqps.json", "run-slow-50qps.json", "run-slow-infqps.json"], files);
            Assert.True(File.Exists(Path.Combine(dir, "run-latency_vs_rate.png")));
            Assert.True(File.Exists(Path.Combine(dir, "run-throughput_vs_rate.png")));
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run-slow-infqps.json")));
            Assert.Equal(6, doc.RootElement.GetProperty("completed").GetInt32());
            Assert.Equal("fake", doc.RootElement.GetProperty("conditions").GetProperty("backend").GetString());
            // The slow server waits 40 ms before its first token, beyond the 20 ms TTFT SLO: no request is good.
            Assert.Equal(0, doc.RootElement.GetProperty("request_goodput").GetDouble());
            // Text prompts: the server got strings, whose lengths the demo tokenizer counted.
            Assert.All(slow.Bodies, b => Assert.Equal(JsonValueKind.String, b.GetProperty("prompt").ValueKind));
            Assert.All(doc.RootElement.GetProperty("input_lens").EnumerateArray(), n => Assert.InRange(n.GetInt32(), 28, 36));
            Assert.Contains("Sweep summary", console.ToString());
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
