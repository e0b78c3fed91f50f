using System.Buffers.Binary;
using System.Text.Json;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Server.Hosting;
using Loom.Tests;

namespace Loom.Bench.Tests.EndToEnd;

/// <summary>
/// `loom bench serve` from the command line against a live Loom server (real engine, demo model) on loopback: the
/// whole path the proof names, down to the result files and plots.
/// </summary>
public class LiveServerSweepTests
{
    private const int NumPrompts = 4, InputLen = 16, OutputLen = 6;

    [Fact]
    public async Task A_two_rate_sweep_against_a_live_loom_server_saves_vllm_json_and_png_plots()
    {
        var engine = new EngineOptions { IdleSelfCheck = true, MaxNumSeqs = 8, KvCacheBytes = 16 << 20 };
        // The server listens at once and answers 503 while the model loads (held back a moment here), as `loom serve`
        // does: the bench, started beside it, must wait for GET /v1/models rather than guess the model's name.
        await using var server = await LoomServer.StartAsync(new ServerOptions { Host = "127.0.0.1", Port = 0, MaxNumSeqs = 8 },
            async ct =>
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
                var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", NumThreads = 1, Engine = engine });
                return EngineHost.Start(model, engine, servedName: "demo-served");
            });
        using var dir = new CliRunner.TempDir();

        var result = await CliRunner.RunAsync("bench", "serve", "--base-url", server.BaseUrl, "--model", RepoPaths.DemoModel,
            "--dataset-name", "random", "--random-input-len", $"{InputLen}", "--random-output-len", $"{OutputLen}",
            "--num-prompts", $"{NumPrompts}", "--request-rate", "20,inf", "--ignore-eos", "--goodput", "ttft:60000",
            "--save-result", "--result-dir", dir.Path, "--disable-tqdm", "--metadata", "server=loom-in-process", "--ready-check-timeout-sec", "120");

        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        var files = Directory.GetFiles(dir.Path, "*.json").Order().ToArray();
        Assert.Equal(2, files.Length);
        Assert.Contains(files, f => Path.GetFileName(f).StartsWith("openai-20qps-demo-", StringComparison.Ordinal));
        Assert.Contains(files, f => Path.GetFileName(f).StartsWith("openai-infqps-demo-", StringComparison.Ordinal));
        foreach (var file in files)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            var root = doc.RootElement;
            Assert.Equal(NumPrompts, root.GetProperty("completed").GetInt32());
            Assert.Equal(0, root.GetProperty("failed").GetInt32());
            Assert.Equal(NumPrompts, root.GetProperty("num_prompts").GetInt32());
            // Token-id prompts and ignore_eos: every length is exactly what was asked for.
            Assert.All(root.GetProperty("output_lens").EnumerateArray(), n => Assert.Equal(OutputLen, n.GetInt32()));
            Assert.All(root.GetProperty("input_lens").EnumerateArray(), n => Assert.Equal(InputLen, n.GetInt32()));
            Assert.Equal(NumPrompts * OutputLen, root.GetProperty("total_output_tokens").GetInt32());
            Assert.Equal(NumPrompts * InputLen, root.GetProperty("total_input_tokens").GetInt32());
            Assert.All(root.GetProperty("itls").EnumerateArray(), itl => Assert.Equal(OutputLen - 1, itl.GetArrayLength()));
            Assert.All(root.GetProperty("errors").EnumerateArray(), e => Assert.True(e.ValueKind == JsonValueKind.Null || e.GetString() == ""));
            foreach (var key in new[] { "duration", "request_throughput", "output_throughput", "total_token_throughput", "request_goodput",
                         "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "mean_itl_ms", "mean_e2el_ms", "p99_e2el_ms" })
                Assert.True(root.GetProperty(key).GetDouble() > 0, key);
            Assert.Equal("loom-in-process", root.GetProperty("conditions").GetProperty("server").GetString());
            Assert.Equal("true", root.GetProperty("conditions").GetProperty("ignore_eos").GetString());
            Assert.Equal(server.BaseUrl + "/v1/completions", root.GetProperty("conditions").GetProperty("api_url").GetString());
            Assert.Equal("demo-served", root.GetProperty("conditions").GetProperty("served_model_name").GetString());
        }
        foreach (var png in new[] { "latency_vs_rate.png", "throughput_vs_rate.png" })
            AssertValidPng(Path.Combine(dir.Path, png));
    }

    [Fact]
    public async Task Without_model_or_tokenizer_the_vocabulary_comes_from_the_loom_servers_model_card()
    {
        var engine = new EngineOptions { MaxNumSeqs = 4, KvCacheBytes = 16 << 20 };
        await using var server = await LoomServer.StartAsync(new ServerOptions { Host = "127.0.0.1", Port = 0, MaxNumSeqs = 4 },
            ct => Task.FromResult(EngineHost.Start(ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", NumThreads = 1, Engine = engine }), engine, servedName: "demo")));
        using var dir = new CliRunner.TempDir();

        var result = await CliRunner.RunAsync("bench", "serve", "--base-url", server.BaseUrl, "--random-input-len", "8", "--random-output-len", "2",
            "--num-prompts", "2", "--ignore-eos", "--save-result", "--result-dir", dir.Path, "--disable-tqdm", "--ready-check-timeout-sec", "120");

        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        using var doc = JsonDocument.Parse(File.ReadAllText(Directory.GetFiles(dir.Path, "*.json").Single()));
        Assert.Equal(2, doc.RootElement.GetProperty("completed").GetInt32());
        Assert.Equal(0, doc.RootElement.GetProperty("failed").GetInt32());
    }

    /// <summary>The PNG signature, an IHDR chunk first with a non-empty image, and an IEND chunk last.</summary>
    private static void AssertValidPng(string path)
    {
        Assert.True(File.Exists(path), path);
        byte[] bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.True(BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)) > 0, "width");
        Assert.True(BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)) > 0, "height");
        Assert.Equal("IEND", System.Text.Encoding.ASCII.GetString(bytes, bytes.Length - 8, 4));
    }
}
