using System.Diagnostics;
using Loom.Models.Gguf;
using Xunit.Abstractions;

namespace Loom.Backends.Tests.LlamaCpp;

/// <summary>
/// The files users download, as llama.cpp's own llama-quantize writes them: the demo model exported to F32 by Loom,
/// quantized by llama-quantize to Q4_K_M, Q5_K_M, Q6_K, Q4_1, Q5_0, Q5_1 and IQ4_NL (its rows of 704 are not whole
/// 256-value blocks, so the K-quant files also hold llama-quantize's fallback types), then loaded by Loom, whose
/// greedy choice at each step (given llama.cpp's context) agrees with node-llama-cpp's on most steps, as for Q8_0 in
/// <see cref="LlamaCppGreedyTests"/>. Skips without the native llama.cpp build (tools/llamacpp/build-native.sh, which
/// CI does not run) or without node-llama-cpp.
/// </summary>
public sealed class LlamaQuantizeGreedyTests(LlamaQuantizeFixture fixture, ITestOutputHelper output) : IClassFixture<LlamaQuantizeFixture>
{
    private const double AgreementFloor = 0.85;
    private const double ConfidentAgreementFloor = 0.95;
    private const float ConfidentMargin = 0.1f;

    public static TheoryData<string> Types => new(LlamaQuantizeFixture.Types);

    [SkippableTheory]
    [MemberData(nameof(Types))]
    public void GreedyTokensMostlyAgreeWithLlamaCpp(string type)
    {
        var (comparison, tensorTypes) = fixture.Get(type);
        int agree = 0, total = 0, confidentAgree = 0, confident = 0;
        foreach (var c in comparison.Cases)
            for (int step = 0; step < c.LlamaTokens.Length; step++)
            {
                bool same = c.LoomTokens[step] == c.LlamaTokens[step];
                total++;
                if (same) agree++;
                if (c.LoomMargins[step] < ConfidentMargin) continue;
                confident++;
                if (same) confidentAgree++;
            }
        double agreement = (double)agree / total, confidentAgreement = confident == 0 ? 1 : (double)confidentAgree / confident;
        output.WriteLine($"demo {type} (tensor types {tensorTypes}): {agree}/{total} steps agree ({agreement:P1}); " +
            $"with Loom margin >= {ConfidentMargin}: {confidentAgree}/{confident} ({confidentAgreement:P1})");
        Assert.True(agreement >= AgreementFloor, $"demo {type}: {agree}/{total} steps agree with llama.cpp");
        Assert.True(confidentAgreement >= ConfidentAgreementFloor, $"demo {type}: {confidentAgree}/{confident} confident steps agree");
    }

    /// <summary>Each file holds the block types its name promises (so the test exercises those kernels).</summary>
    [SkippableTheory]
    [InlineData("Q4_K_M", "Q4_K")]
    [InlineData("Q5_K_M", "Q5_K")]
    [InlineData("Q6_K", "Q6_K")]
    [InlineData("Q4_1", "Q4_1")]
    [InlineData("Q5_0", "Q5_0")]
    [InlineData("Q5_1", "Q5_1")]
    [InlineData("IQ4_NL", "IQ4_NL")]
    public void FileHoldsItsBlockType(string type, string tensorType)
    {
        var (_, tensorTypes) = fixture.Get(type);
        Assert.Contains(tensorType, tensorTypes.Split(", "));
    }
}

/// <summary>Quantizes once per test run, runs llama.cpp over all files in one node process, and Loom on each.</summary>
public sealed class LlamaQuantizeFixture : IDisposable
{
    public static readonly string[] Types = ["Q4_K_M", "Q5_K_M", "Q6_K", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL"];

    private readonly string _directory = Directory.CreateTempSubdirectory("loom-llama-quantize-").FullName;
    private readonly Lazy<Dictionary<string, (ModelComparison, string)>> _comparisons;

    public LlamaQuantizeFixture() => _comparisons = new(Compare, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The comparison for one llama-quantize type and the distinct tensor types of its file; skips without the tools.</summary>
    internal (ModelComparison Comparison, string TensorTypes) Get(string type)
    {
        string? quantize = NativeLlamaCpp.Quantize;
        Skip.If(quantize == null, $"no native llama.cpp build with llama-quantize under {NativeLlamaCpp.CacheRoot} (tools/llamacpp/build-native.sh)");
        LlamaCppHarness.RequireLlamaCpp();
        var (comparison, tensorTypes) = _comparisons.Value[type];
        return (comparison.EnsureLoaded(), tensorTypes);
    }

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private Dictionary<string, (ModelComparison, string)> Compare()
    {
        using var source = LlamaCppComparisonFixture.Open(LlamaCppComparisonFixture.DemoModelName);
        string f32 = Path.Combine(_directory, "demo-F32.gguf");
        GgufExporter.Export(source.Weights, source.Config, f32, GgmlType.F32, GgufTokenizerWriter.FromModelDirectory(source.Directory),
            modelName: LlamaCppComparisonFixture.NeutralModelName);
        var files = Types.Select(type => (Type: type, Path: NativeLlamaCpp.RunQuantize(f32, Path.Combine(_directory, $"demo-{type}.gguf"), type))).ToArray();
        var llama = LlamaCppHarness.Greedy(files.Select(f => new GreedyJob(f.Path, source.Prompts, LlamaCppComparisonFixture.GreedySteps)).ToArray(), threads: 1);
        var result = new Dictionary<string, (ModelComparison, string)>();
        for (int i = 0; i < files.Length; i++)
        {
            var (type, path) = files[i];
            string tensorTypes;
            using (var file = GgufFile.Open(path))
                tensorTypes = string.Join(", ", file.Tensors.Select(t => t.Type.ToString()).Distinct().Order(StringComparer.Ordinal));
            var comparison = LlamaCppComparisonFixture.CompareWithLoom(LlamaCppComparisonFixture.DemoModelName, GgmlType.F32, path, source.Prompts, llama[i]);
            result[type] = (comparison, tensorTypes);
        }
        return result;
    }
}

/// <summary>The llama.cpp tools tools/llamacpp/build-native.sh builds and caches (never built by the tests: ~10 minutes).</summary>
internal static class NativeLlamaCpp
{
    private static readonly TimeSpan QuantizeTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Where build-native.sh caches its builds (its LOOM_LLAMACPP_CACHE / XDG_CACHE_HOME rule).</summary>
    public static string CacheRoot => Environment.GetEnvironmentVariable("LOOM_LLAMACPP_CACHE") is { Length: > 0 } root ? root
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "loom", "llamacpp");

    /// <summary>llama-quantize of the newest native build, or null.</summary>
    public static string? Quantize => !Directory.Exists(CacheRoot) ? null
        : Directory.GetDirectories(CacheRoot, "build-*-native").Order(StringComparer.Ordinal)
            .Select(dir => Path.Combine(dir, "bin", "llama-quantize")).LastOrDefault(File.Exists);

    /// <summary>Runs llama-quantize input → output as <paramref name="type"/> (one thread); returns the output path.</summary>
    public static string RunQuantize(string input, string output, string type)
    {
        var start = new ProcessStartInfo(Quantize ?? throw new InvalidOperationException("llama-quantize is not built"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { input, output, type, "1" }) start.ArgumentList.Add(arg);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start llama-quantize");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(QuantizeTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"llama-quantize {type} did not finish within {QuantizeTimeout}");
        }
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"llama-quantize {type} failed (exit {process.ExitCode}):\n{stdout.Result}\n{stderr.Result}");
        return output;
    }
}
