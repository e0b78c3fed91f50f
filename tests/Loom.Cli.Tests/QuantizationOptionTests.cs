using System.CommandLine;
using System.Text.Json;
using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.Models.Config;
using Loom.Models.Gguf;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Cli.Tests;

/// <summary>`--quantization` reaches the loader: `generate --quantization q8_0` computes what a Q8_0 GGUF export computes.</summary>
public class QuantizationOptionTests
{
    private sealed record Result(int ExitCode, string Stdout, string Stderr);

    private static Result Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.BuildRoot().Parse(args).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        return new Result(code, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData("q8_0", GgmlType.Q8_0)]
    [InlineData("q4_0", GgmlType.Q4_0)]
    public void GenerateGivesTheGreedyTokensOfTheExportedGguf(string option, GgmlType type)
    {
        int[] prompt = [5, 17, 300, 42, 9, 1000];
        const int MaxTokens = 10;
        var result = Run("generate", "--model", RepoPaths.DemoModel, "--prompt-ids", string.Join(",", prompt),
            "--max-tokens", MaxTokens.ToString(), "--temperature", "0", "--quantization", option, "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains($"Quantized the checkpoint's matrices to {type}", result.Stderr);
        using var doc = JsonDocument.Parse(result.Stdout);
        int[] ids = [.. doc.RootElement.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32())];

        var config = ModelConfigLoader.Load(RepoPaths.DemoModel);
        string path = Path.Combine(Directory.CreateTempSubdirectory("loom-quantization-").FullName, "demo.gguf");
        try
        {
            using (var weights = SafetensorsWeightSource.Open(RepoPaths.DemoModel))
                GgufExporter.Export(weights, config, path, type);
            using var gguf = GgufWeightSource.Open(path);
            Assert.Equal(Greedy(gguf.Config, gguf, prompt, ids.Length, config.EosTokenIds), ids);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void UnknownTypeIsAUsageError()
    {
        var result = Run("generate", "--model", RepoPaths.DemoModel, "--prompt-ids", "1,2", "--quantization", "q5_k");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--quantization: unknown type 'q5_k' (expected q8_0 or q4_0)", result.Stderr);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("Q8_0", DType.Q8_0)]
    [InlineData("q4_0", DType.Q4_0)]
    public void ParsesTheNamesLlamaCppUses(string? value, DType? expected) => Assert.Equal(expected, QuantizationOption.Parse(value));

    /// <summary>Greedy tokens by re-running the whole sequence each step (no cache reuse), on the CPU backend.</summary>
    private static int[] Greedy(ModelConfig config, IWeightSource weights, int[] prompt, int maxTokens, IReadOnlyList<int> eos)
    {
        const int BlockSize = 16;
        using var executor = new CpuBackend(1).LoadModel(config, weights, new KvCacheSpec((prompt.Length + maxTokens) / BlockSize + 2, BlockSize));
        var tokens = new List<int>(prompt);
        var logits = new float[config.VocabSize];
        for (int step = 0; step < maxTokens; step++)
        {
            int n = tokens.Count;
            executor.Forward(ForwardBatch.Of(
                tokenIds: [.. tokens],
                positions: [.. Enumerable.Range(0, n)],
                seqs: [new SequenceSlice(0, n, n, [.. Enumerable.Range(0, (n + BlockSize - 1) / BlockSize)])],
                logitsIndices: [n - 1])).CopyTo(logits);
            int next = Array.IndexOf(logits, logits.Max());
            tokens.Add(next);
            if (eos.Contains(next)) break;
        }
        return [.. tokens.Skip(prompt.Length)];
    }
}
