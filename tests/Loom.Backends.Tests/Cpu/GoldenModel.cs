using System.Text.Json;
using Loom.Backends.Cpu;
using Loom.Models.Config;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Backends.Tests.Cpu;

/// <summary>One case of a fixture model's golden.json / golden.safetensors (Hugging Face, float64 eager).</summary>
internal sealed record GoldenCase(int Index, int[] PromptIds, int FirstLogitsRow, float[] Logits, int[] Greedy, double[] Margins)
{
    public int NumLogitsRows(int vocab) => Logits.Length / vocab;
    public ReadOnlySpan<float> LogitsRow(int position, int vocab) => Logits.AsSpan((position - FirstLogitsRow) * vocab, vocab);
    public ReadOnlySpan<float> LastRow(int vocab) => Logits.AsSpan(Logits.Length - vocab, vocab);
}

/// <summary>A fixture model (config, mapped weights) with its golden cases, and executors over it.</summary>
internal sealed class GoldenModel : IDisposable
{
    public static readonly string[] Names =
        ["llama-gqa", "llama3-ropescaled", "qwen2-bias-tied", "qwen3-qknorm", "mistral-slidingwindow", "phi3-fused"];

    private GoldenModel(string name, ModelConfig config, SafetensorsWeightSource weights, GoldenCase[] cases)
    {
        Name = name;
        Config = config;
        Weights = weights;
        Cases = cases;
    }

    public string Name { get; }
    public ModelConfig Config { get; }
    public SafetensorsWeightSource Weights { get; }
    public GoldenCase[] Cases { get; }
    public int Vocab => Config.VocabSize;

    public static GoldenModel Load(string name)
    {
        string dir = RepoPaths.FixtureModel(name);
        var config = ModelConfigLoader.Load(dir);
        var weights = SafetensorsWeightSource.Open(dir);
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "golden.json")));
        using var golden = SafetensorsWeightSource.OpenFile(Path.Combine(dir, "golden.safetensors"));
        var cases = new List<GoldenCase>();
        foreach (var c in json.RootElement.GetProperty("cases").EnumerateArray())
        {
            int index = c.GetProperty("case").GetInt32();
            int promptLength = c.GetProperty("prompt_len").GetInt32();
            var ids = golden.Get($"case{index}.input_ids").Bytes;
            var prompt = new int[ids.Length / 8];
            for (int i = 0; i < prompt.Length; i++) prompt[i] = checked((int)BitConverter.ToInt64(ids.Slice(i * 8, 8)));
            Assert.Equal(promptLength, prompt.Length);
            var logits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(golden.Get($"case{index}.logits").Bytes).ToArray();
            int rows = logits.Length / config.VocabSize;
            cases.Add(new GoldenCase(index, prompt, promptLength - rows, logits,
                c.GetProperty("greedy").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.GetProperty("greedy_margins").EnumerateArray().Select(e => e.GetDouble()).ToArray()));
        }
        return new GoldenModel(name, config, weights, cases.ToArray());
    }

    public IModelExecutor CreateExecutor(int numBlocks, int blockSize, KvCacheDType kvDType = KvCacheDType.Float32, int? numThreads = null) =>
        new CpuBackend(numThreads).LoadModel(Config, Weights, new KvCacheSpec(numBlocks, blockSize) { DType = kvDType });

    /// <summary>Blocks needed for every case at once (prompt plus greedy tokens), with room to spare.</summary>
    public int BlocksForAllCases(int blockSize) =>
        Cases.Sum(c => (c.PromptIds.Length + c.Greedy.Length + blockSize) / blockSize) + 4;

    public void Dispose() => Weights.Dispose();

    /// <summary>Per-row relative error ||a - b|| / ||b||.</summary>
    public static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = actual[i] - (double)expected[i];
            diff += d * d;
            norm += (double)expected[i] * expected[i];
        }
        return Math.Sqrt(diff / norm);
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }
}
