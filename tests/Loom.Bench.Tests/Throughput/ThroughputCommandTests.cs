using System.Text.Json;
using Loom.Cli;
using Loom.Tests;

namespace Loom.Bench.Tests.Throughput;

/// <summary>`loom bench throughput` through the command line on the bundled demo model.</summary>
public class ThroughputCommandTests
{
    [Fact]
    public async Task A_few_short_requests_on_the_demo_model_give_exact_counts_and_a_json_result()
    {
        using var dir = new CliRunner.TempDir();
        string json = Path.Combine(dir.Path, "sub", "throughput.json");
        var result = await CliRunner.RunAsync("bench", "throughput", "--model", RepoPaths.DemoModel, "--num-prompts", "6",
            "--input-len", "12", "--output-len", "5", "--max-num-seqs", "4", "--kv-cache-memory", "8MiB", "--threads", "1",
            "--output-json", json, "--disable-tqdm", "--metadata", "note=test run");

        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        Assert.Contains("Throughput:", result.Stdout);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal(6, root.GetProperty("num_requests").GetInt32());
        Assert.Equal(6 * 12, root.GetProperty("total_prompt_tokens").GetInt64());
        Assert.Equal(6 * 5, root.GetProperty("total_output_tokens").GetInt64());
        Assert.Equal(6 * (12 + 5), root.GetProperty("total_num_tokens").GetInt64());
        double elapsed = root.GetProperty("elapsed_time").GetDouble();
        Assert.True(elapsed > 0);
        Assert.Equal(6 / elapsed, root.GetProperty("requests_per_second").GetDouble(), 6);
        Assert.Equal(102 / elapsed, root.GetProperty("tokens_per_second").GetDouble(), 6);
        Assert.Equal(30 / elapsed, root.GetProperty("output_tokens_per_second").GetDouble(), 6);
        var conditions = root.GetProperty("conditions");
        Assert.Equal(RepoPaths.DemoModel, conditions.GetProperty("model").GetString());
        Assert.Equal("bfloat16", conditions.GetProperty("dtype").GetString());
        Assert.Equal("cpu", conditions.GetProperty("backend").GetString());
        Assert.Equal("1", conditions.GetProperty("threads").GetString());
        Assert.Equal("test run", conditions.GetProperty("note").GetString());
        Assert.Contains("max_num_seqs=4", conditions.GetProperty("engine").GetString());
        Assert.False(string.IsNullOrEmpty(conditions.GetProperty("kv_cache_dtype").GetString()));
        Assert.False(string.IsNullOrEmpty(conditions.GetProperty("machine").GetString()));
    }

    [Fact]
    public async Task The_prefix_workload_with_quantized_dummy_weights_reports_prefix_cache_hits()
    {
        using var dir = new CliRunner.TempDir();
        string json = Path.Combine(dir.Path, "prefix.json");
        var result = await CliRunner.RunAsync("bench", "throughput", "--model", RepoPaths.DemoModel, "--dummy-weights", "--quantization", "q8_0", "--dataset-name", "prefix",
            "--prefix-repetition-prefix-len", "32", "--prefix-repetition-suffix-len", "4", "--prefix-repetition-num-prefixes", "1",
            "--output-len", "3", "--num-prompts", "4", "--max-num-seqs", "1", "--kv-cache-memory", "8MiB", "--threads", "1",
            "--num-warmups", "0", "--output-json", json, "--disable-tqdm");

        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal(4 * 36, root.GetProperty("total_prompt_tokens").GetInt64());
        Assert.Equal(4 * 3, root.GetProperty("total_output_tokens").GetInt64());
        // One sequence at a time: requests 2..4 find the first's two full 16-token prefix blocks in the cache.
        Assert.Equal(3 * 32, root.GetProperty("cached_prompt_tokens").GetInt64());
        Assert.Equal("dummy (seeded random)", root.GetProperty("conditions").GetProperty("weights").GetString());
        Assert.StartsWith("q8_0", root.GetProperty("conditions").GetProperty("dtype").GetString());
    }

    [Fact]
    public async Task A_request_longer_than_the_context_is_refused_with_the_flags_named()
    {
        var result = await CliRunner.RunAsync("bench", "throughput", "--model", RepoPaths.DemoModel, "--num-prompts", "2",
            "--input-len", "60", "--output-len", "8", "--max-model-len", "64", "--kv-cache-memory", "8MiB", "--disable-tqdm");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error:", result.Stderr);
        Assert.Contains("--input-len", result.Stderr);
        Assert.Contains("max model length 64", result.Stderr);
    }

    [Fact]
    public void Bench_help_explains_both_subcommands_and_throughput_takes_the_engine_flags_of_serve()
    {
        var bench = Program.BuildRoot().Subcommands.Single(c => c.Name == "bench");
        Assert.Contains("'serve'", bench.Description);
        Assert.Contains("'throughput'", bench.Description);
        var throughput = bench.Subcommands.Single(c => c.Name == "throughput");
        var serve = ServeCommand.Create();
        foreach (var option in new EngineOptionSet().All)
        {
            Assert.Contains(throughput.Options, o => o.Name == option.Name);
            Assert.Contains(serve.Options, o => o.Name == option.Name);
        }
        foreach (var name in new[] { "--input-len", "--output-len", "--num-prompts", "--dataset-name", "--output-json", "--quantization" })
            Assert.Contains(throughput.Options, o => o.Name == name);
    }
}
