using System.Diagnostics;
using Loom.Cli;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Server.Hosting;
using Loom.Tests;

namespace Loom.Server.Tests.Server;

/// <summary>Issue 16: connection, body and KV cache defaults, the Host filter, and the --threads cap.</summary>
public sealed class ConnectionLimitTests
{
    [Theory]
    [InlineData(null, ConnectionLimit.Default)]
    [InlineData(1200L, 900)]
    [InlineData(1024L, 768)]
    [InlineData(20000L, ConnectionLimit.Default)]
    [InlineData(300L, 44)]
    [InlineData(200L, 16)]
    public void The_connection_default_leaves_descriptors_free(long? fdLimit, int expected) =>
        Assert.Equal(expected, ConnectionLimit.FromFdLimit(fdLimit));

    [Fact]
    public void An_explicit_connection_limit_wins() =>
        Assert.Equal(7, ConnectionLimit.For(new ServerOptions { MaxConcurrentConnections = 7 }));

    [Fact]
    public void This_process_fd_limit_is_read_on_linux()
    {
        if (!OperatingSystem.IsLinux()) return;
        Assert.True(ConnectionLimit.OpenFileLimit() > 0);
    }

    /// <summary>The fd-limit scenario end to end: tools/fd-limit-check.sh under prlimit (about 11 s).</summary>
    [SkippableFact]
    public void Idle_connections_past_the_fd_limit_are_refused_and_the_server_survives()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && FindOnPath("prlimit"), "prlimit is not installed");
        var dll = Path.Combine(AppContext.BaseDirectory, "loom.dll");
        var script = Path.Combine(RepoPaths.Root, "tools", "fd-limit-check.sh");
        var start = new ProcessStartInfo("bash", [script, dll, RepoPaths.DemoModel])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepoPaths.Root,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("fd-limit-check.sh did not finish: " + output.Result);
        }
        Skip.If(process.ExitCode == 77, output.Result);
        Assert.True(process.ExitCode == 0, output.Result + errors.Result);
        Assert.Contains("OK: extra connections refused", output.Result);
    }

    private static bool FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, name)));

    [Theory]
    [InlineData(null, RequestBodyLimit.Floor)]
    [InlineData(1024, RequestBodyLimit.Floor)]
    [InlineData(32768, 8L << 20)]
    [InlineData(1 << 20, RequestBodyLimit.Ceiling)]
    public void The_body_limit_is_sized_from_max_model_len(int? maxModelLen, long expected) =>
        Assert.Equal(expected, RequestBodyLimit.For(new ServerOptions(), maxModelLen));

    [Fact]
    public void An_explicit_body_limit_wins() =>
        Assert.Equal(4096, RequestBodyLimit.For(new ServerOptions { MaxRequestBodyBytes = 4096 }, 1 << 20));

    [Theory]
    [InlineData("127.0.0.1", null, "evil.example", false)]
    [InlineData("127.0.0.1", null, "localhost:8000", true)]
    [InlineData("localhost", null, "[::1]:1", true)]
    [InlineData("::1", null, "app.localhost", true)]
    [InlineData("127.0.0.1", "*", "evil.example", true)]
    [InlineData("127.0.0.1", "a.example,b.example", "b.example:443", true)]
    [InlineData("127.0.0.1", "a.example", "c.example", false)]
    [InlineData("0.0.0.0", null, "anything.example", true)]
    [InlineData("::", null, "anything.example", true)]
    [InlineData("0.0.0.0", "a.example", "other.example", false)]
    [InlineData("0.0.0.0", "a.example", "127.0.0.1:8000", true)]
    [InlineData("127.0.0.1", null, "", false)]
    public void Host_filter(string bind, string? allowed, string hostHeader, bool answered) =>
        Assert.Equal(answered, HostFilter.For(new ServerOptions { Host = bind, AllowedHosts = ServeCommand.ParseHosts(allowed) }).Allows(hostHeader));

    [Fact]
    public void Kv_cache_default_is_what_the_sequences_can_use_when_memory_allows()
    {
        var engine = new EngineOptions { MaxNumSeqs = 64, BlockSize = 16 };
        long bytesPerBlock = 16 * 2048; // 2 KiB per token
        var (bytes, reason) = KvCacheSizing.DefaultBudget(engine, maxModelLen: 1024, bytesPerBlock, availableBytes: 24L << 30);
        Assert.Equal(64L * 64 * bytesPerBlock, bytes); // 64 sequences x 64 blocks: 128 MiB, not 10 % of 24 GiB
        Assert.Contains("64 sequences x 1024 tokens", reason);
    }

    [Fact]
    public void Kv_cache_default_is_capped_by_a_fraction_of_available_memory()
    {
        var engine = new EngineOptions { MaxNumSeqs = 64, BlockSize = 16 };
        var (bytes, reason) = KvCacheSizing.DefaultBudget(engine, maxModelLen: 32768, bytesPerBlock: 16L << 16, availableBytes: 8L << 30);
        Assert.Equal((long)((8L << 30) * engine.KvCacheMemoryFraction), bytes);
        Assert.Contains("available memory", reason);
    }

    [Fact]
    public void Kv_cache_default_rounds_a_window_up_to_whole_blocks()
    {
        var engine = new EngineOptions { MaxNumSeqs = 3, BlockSize = 16 };
        Assert.Equal(3L * 2 * 100, KvCacheSizing.DefaultBudget(engine, maxModelLen: 17, bytesPerBlock: 100, availableBytes: long.MaxValue / 2).Bytes);
    }

    [Fact]
    public void The_demo_model_reserves_only_what_its_sequences_can_use()
    {
        var lines = new List<string>();
        var engine = new EngineOptions { MaxNumSeqs = 4 };
        using var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Backend = "cpu", Engine = engine, Log = lines.Add });
        var line = Assert.Single(lines, l => l.StartsWith("KV cache:", StringComparison.Ordinal));
        Assert.Contains("sized for 4 sequences", line);
        Assert.Contains($"= {4 * ((model.MaxModelLen + 15) / 16) * 16} tokens", line);
    }

    [Theory]
    [InlineData(64, 2, 2, true)]
    [InlineData(2, 2, 2, false)]
    [InlineData(1, 8, 1, false)]
    public void Threads_are_capped_at_the_cores(int requested, int cores, int expected, bool warns)
    {
        var warnings = new List<string>();
        Assert.Equal(expected, EngineOptionSet.CapThreads(requested, cores, warnings.Add));
        Assert.Equal(warns, warnings.Count == 1);
        if (warns) Assert.Contains("--threads", warnings[0]);
    }
}
