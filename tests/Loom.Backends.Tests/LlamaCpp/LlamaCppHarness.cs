using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Loom.Tests;

namespace Loom.Backends.Tests.LlamaCpp;

/// <summary>One model for tools/llamacpp/greedy.mjs: greedy-decode <see cref="N"/> tokens after each prompt.</summary>
internal sealed record GreedyJob(string Model, int[][] Prompts, int N);

/// <summary>llama.cpp's greedy tokens for each prompt of a job, or why it could not produce them.</summary>
internal sealed record GreedyResult(int[][]? Tokens, string? Error);

/// <summary>
/// llama.cpp through node-llama-cpp's prebuilt CPU binaries (tools/llamacpp). The first test that needs it installs the
/// pinned packages once per test run; where that cannot work (no node or npm on PATH, not linux-x64, registry
/// unreachable) the tests skip with the reason. Any other install failure is a test failure, not a skip.
/// </summary>
internal static class LlamaCppHarness
{
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromMinutes(3);

    // npm error codes that mean "the registry cannot be reached from here", as opposed to a broken package or lock file.
    private static readonly string[] NetworkErrors =
        ["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH", "EHOSTUNREACH", "ERR_SOCKET_TIMEOUT", "network request"];

    private static readonly Lazy<string?> SkipReason = new(Install, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string ToolDirectory => Path.Combine(RepoPaths.Root, "tools", "llamacpp");

    /// <summary>Skips the calling test (Xunit.SkippableFact) when llama.cpp cannot be installed on this machine.</summary>
    public static void RequireLlamaCpp()
    {
        string? reason = SkipReason.Value;
        Skip.If(reason != null, reason);
    }

    /// <summary>
    /// Runs greedy.mjs over all jobs in one node process (llama.cpp starts once), CPU only: per job, its tokens per
    /// prompt, or the error llama.cpp gave for that file.
    /// </summary>
    public static GreedyResult[] Greedy(IReadOnlyList<GreedyJob> jobs, int threads)
    {
        RequireLlamaCpp();
        string jobsPath = Path.Combine(Path.GetTempPath(), $"loom-llamacpp-jobs-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(jobsPath, JsonSerializer.Serialize(jobs.Select(j => new { model = j.Model, prompts = j.Prompts, n = j.N })));
            var result = Run("node", ["greedy.mjs", "--jobs", jobsPath, "--threads", threads.ToString()], ToolDirectory, ScriptTimeout);
            if (result.ExitCode != 0)
                throw new InvalidOperationException($"greedy.mjs failed (exit {result.ExitCode}):\n{result.Stderr}");
            using var json = JsonDocument.Parse(result.Stdout);
            var results = json.RootElement.GetProperty("results").EnumerateArray().ToArray();
            Assert.Equal(jobs.Count, results.Length);
            return results.Select(r => r.TryGetProperty("error", out var error)
                    ? new GreedyResult(null, $"{error.GetString()}\nllama.cpp log:\n{result.Stderr}")
                    : new GreedyResult(r.GetProperty("sequences").EnumerateArray()
                        .Select(s => s.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray())
                        .ToArray(), null))
                .ToArray();
        }
        finally
        {
            File.Delete(jobsPath);
        }
    }

    /// <summary>Installs tools/llamacpp's pinned packages unless present; returns why llama.cpp is unavailable, or null.</summary>
    private static string? Install()
    {
        if (!(OperatingSystem.IsLinux() && RuntimeInformation.OSArchitecture == Architecture.X64))
            return $"llama.cpp harness pins the linux-x64 prebuilt binaries; this is {RuntimeInformation.RuntimeIdentifier}";
        if (FindOnPath("node") == null) return "node is not on PATH";
        if (InstalledMatchesPins()) return null;
        if (FindOnPath("npm") == null) return "npm is not on PATH (needed once to install tools/llamacpp)";
        // npm install, not npm ci: the lock pins every version, but npm ci insists that the optional binaries of every
        // other platform (mac, windows, riscv) be in the lock, and registries that mirror only what Linux needs lack them.
        // --no-save keeps the lock untouched; tools/llamacpp/.npmrc turns off install scripts and the GPU variants.
        var result = Run("npm", ["install", "--no-save", "--prefix", ToolDirectory], RepoPaths.Root, InstallTimeout);
        if (result.ExitCode == 0) return null;
        string output = result.Stdout + result.Stderr;
        string? networkError = output.Split('\n')
            .FirstOrDefault(line => NetworkErrors.Any(e => line.Contains(e, StringComparison.OrdinalIgnoreCase)));
        if (networkError != null) return "npm registry unreachable: " + networkError.Trim();
        throw new InvalidOperationException($"npm install --prefix {ToolDirectory} failed (exit {result.ExitCode}):\n{output}");
    }

    /// <summary>Both pinned packages are in node_modules at the versions package.json pins (a stale install is redone).</summary>
    private static bool InstalledMatchesPins()
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(ToolDirectory, "package.json")));
        foreach (var pin in manifest.RootElement.GetProperty("dependencies").EnumerateObject())
        {
            string installed = Path.Combine(ToolDirectory, "node_modules", pin.Name, "package.json");
            if (!File.Exists(installed)) return false;
            using var package = JsonDocument.Parse(File.ReadAllText(installed));
            if (package.RootElement.GetProperty("version").GetString() != pin.Value.GetString()) return false;
        }
        return true;
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);

    private sealed record ProcessResult(int ExitCode, string Stdout, string Stderr);

    private static ProcessResult Run(string program, IReadOnlyList<string> args, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(FindOnPath(program) ?? program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (string arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within {timeout}");
        }
        process.WaitForExit();
        return new ProcessResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}
