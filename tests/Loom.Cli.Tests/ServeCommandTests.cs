using Loom.Engine;

namespace Loom.Cli.Tests;

public sealed class ServeCommandTests
{
    [Theory]
    [InlineData("536870912", 536870912L)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("1.5GB", 3L << 29)]
    [InlineData("64k", 64L << 10)]
    public void Kv_cache_memory_accepts_byte_suffixes(string text, long bytes) => Assert.Equal(bytes, ServeCommand.ParseBytes(text));

    [Theory]
    [InlineData("12XB")]
    [InlineData("-1GiB")]
    [InlineData("GiB")]
    public void Kv_cache_memory_rejects_nonsense_with_the_option_named(string text) =>
        Assert.Contains("--kv-cache-memory", Assert.Throws<CliUsageException>(() => ServeCommand.ParseBytes(text)).Message);

    [Fact]
    public void Serve_declares_every_option_of_the_issue()
    {
        var serve = ServeCommand.Create();
        foreach (var name in new[] { "--model", "--host", "--port", "--served-model-name", "--max-model-len", "--max-num-seqs",
                     "--max-num-batched-tokens", "--step-time-target-ms", "--kv-cache-memory", "--enable-prefix-caching", "--no-enable-prefix-caching", "--no-enable-chunked-prefill",
                     "--api-key", "--max-waiting", "--shutdown-timeout", "--device" })
            Assert.Contains(serve.Options, o => o.Name == name);
    }

    [Theory]
    [InlineData("bf16", Loom.Backends.KvCacheDType.BFloat16)]
    [InlineData("bfloat16", Loom.Backends.KvCacheDType.BFloat16)]
    [InlineData("auto", Loom.Backends.KvCacheDType.Float32)]
    [InlineData("fp32", Loom.Backends.KvCacheDType.Float32)]
    public void Kv_cache_dtype_reaches_the_engine_options(string value, Loom.Backends.KvCacheDType expected)
    {
        var (options, command) = Commanded(new EngineOptionSet());
        var parse = command.Parse(["--kv-cache-dtype", value]);
        Assert.Empty(parse.Errors);
        Assert.Equal(expected, options.Engine(parse).KvCacheDType);
    }

    [Theory]
    [InlineData(new string[0], Loom.Backends.Cpu.F16Widening.Auto)]
    [InlineData(new[] { "--widen-f16", "never" }, Loom.Backends.Cpu.F16Widening.Never)]
    [InlineData(new[] { "--widen-f16", "always" }, Loom.Backends.Cpu.F16Widening.Always)]
    public void Widen_f16_reaches_the_loader_options(string[] args, Loom.Backends.Cpu.F16Widening expected)
    {
        var (options, command) = Commanded(new EngineOptionSet());
        var parse = command.Parse(args);
        Assert.Empty(parse.Errors);
        Assert.Equal(expected, options.Loader(parse).F16Widening);
    }

    [Fact]
    public void Widen_f16_rejects_an_unknown_policy() =>
        Assert.NotEmpty(Commanded(new EngineOptionSet()).Command.Parse(["--widen-f16", "sometimes"]).Errors);

    [Theory]
    [InlineData(true, new string[0], null)]             // serve: a fixed budget by default
    [InlineData(false, new string[0], null)]            // offline too
    [InlineData(true, new[] { "--step-time-target-ms", "0" }, null)]
    [InlineData(true, new[] { "--step-time-target-ms", "250" }, 250.0)]
    [InlineData(false, new[] { "--step-time-target-ms", "120" }, 120.0)]
    [InlineData(true, new[] { "--no-enable-chunked-prefill" }, null)] // a prompt runs whole: no target
    public void Step_time_target_is_off_unless_asked_for(bool online, string[] args, double? expectedMs)
    {
        var (options, command) = Commanded(new EngineOptionSet(online));
        var parse = command.Parse(args);
        Assert.Empty(parse.Errors);
        Assert.Equal(expectedMs, options.Engine(parse).StepTimeTarget?.TotalMilliseconds);
    }

    [Theory]
    [InlineData(true, new string[0], EngineOptions.DefaultServingStepTokens)]          // serve: a wave of prompts in one step
    [InlineData(false, new string[0], EngineOptions.DefaultChunkedStepTokens)]         // offline: the engine's default
    [InlineData(true, new[] { "--step-time-target-ms", "250" }, EngineOptions.DefaultTimedStepTokens)]
    [InlineData(true, new[] { "--step-time-target-ms", "0" }, EngineOptions.DefaultServingStepTokens)]
    [InlineData(true, new[] { "--no-enable-chunked-prefill" }, EngineOptions.DefaultWholePromptStepTokens)]
    [InlineData(true, new[] { "--max-num-batched-tokens", "96" }, 96)]
    public void Step_budget_defaults_per_command(bool online, string[] args, int expected)
    {
        var (options, command) = Commanded(new EngineOptionSet(online));
        var parse = command.Parse(args);
        Assert.Empty(parse.Errors);
        Assert.Equal(expected, options.Engine(parse).StepTokenBudget);
    }

    [Theory]
    [InlineData("-5")]
    [InlineData("NaN")]
    public void Step_time_target_rejects_a_negative_or_non_number(string value)
    {
        var (options, command) = Commanded(new EngineOptionSet(online: true));
        var e = Assert.Throws<CliUsageException>(() => options.Engine(command.Parse([$"--step-time-target-ms={value}"])));
        Assert.Contains("--step-time-target-ms", e.Message);
    }

    [Fact]
    public void Step_time_target_with_chunked_prefill_off_is_a_usage_error()
    {
        var (options, command) = Commanded(new EngineOptionSet(online: true));
        var e = Assert.Throws<CliUsageException>(() => options.Engine(command.Parse(["--step-time-target-ms", "200", "--no-enable-chunked-prefill"])));
        Assert.Contains("chunked prefill", e.Message);
    }

    [Fact]
    public void Kv_cache_dtype_rejects_an_unknown_type()
    {
        var (_, command) = Commanded(new EngineOptionSet());
        Assert.NotEmpty(command.Parse(["--kv-cache-dtype", "fp8"]).Errors);
    }

    /// <summary>A bare command carrying the engine flags, to parse command lines against.</summary>
    private static (EngineOptionSet Options, System.CommandLine.Command Command) Commanded(EngineOptionSet options)
    {
        var command = new System.CommandLine.Command("test");
        options.AddTo(command);
        return (options, command);
    }
}

public sealed class KvTransferOptionSetTests
{
    [Fact]
    public void Pd_flags_reach_the_server_and_engine_options()
    {
        var kv = new KvTransferOptionSet();
        var command = new System.CommandLine.Command("test");
        kv.AddTo(command);
        var parse = command.Parse(["--kv-role", "prefill", "--kv-port", "9100", "--kv-host", "10.0.0.7", "--kv-lease-timeout", "2.5",
            "--kv-load-failure-policy", "fail"]);
        Assert.Empty(parse.Errors);
        var server = kv.Apply(parse, new Loom.Server.Hosting.ServerOptions());
        Assert.Equal(Loom.Server.Hosting.KvRole.Prefill, server.KvRole);
        Assert.Equal(9100, server.KvPort);
        Assert.Equal("10.0.0.7", server.KvAdvertiseHost);
        Assert.Equal(Loom.Engine.KvTransfer.KvLoadFailurePolicy.Fail, server.KvLoadFailurePolicy);
        Assert.Equal(TimeSpan.FromSeconds(2.5), kv.Apply(parse, new Loom.Engine.Loading.LoaderOptions()).Engine.KvLeaseTimeout);
    }

    [Fact]
    public void Defaults_are_both_roles_no_kv_service_and_recompute()
    {
        var kv = new KvTransferOptionSet();
        var command = new System.CommandLine.Command("test");
        kv.AddTo(command);
        var server = kv.Apply(command.Parse([]), new Loom.Server.Hosting.ServerOptions());
        Assert.Equal(Loom.Server.Hosting.KvRole.Both, server.KvRole);
        Assert.Null(server.KvPort);
        Assert.Equal(Loom.Engine.KvTransfer.KvLoadFailurePolicy.Recompute, server.KvLoadFailurePolicy);
    }

    [Theory]
    [InlineData("--kv-role", "router")]
    [InlineData("--kv-load-failure-policy", "ignore")]
    public void Unknown_words_are_refused(string option, string value)
    {
        var kv = new KvTransferOptionSet();
        var command = new System.CommandLine.Command("test");
        kv.AddTo(command);
        Assert.NotEmpty(command.Parse([option, value]).Errors);
    }
}
