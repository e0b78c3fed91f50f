using Loom.Backends.Cpu;
using Loom.Backends.Tests.Cpu;
using Loom.Models.Config;
using Loom.Models.Gguf;
using Loom.Models.Weights;
using Loom.Tests;
using Loom.Tokenizers;

namespace Loom.Backends.Tests.LlamaCpp;

/// <summary>
/// One prompt compared: llama.cpp's greedy tokens after it, and what Loom predicts at each of those steps when fed
/// llama.cpp's own context (teacher forcing), with Loom's top-1 minus top-2 logit margin there. Comparing on the same
/// context checks every step, also those after a low-margin step where two float implementations may part ways.
/// </summary>
internal sealed record StepComparison(int PromptLength, int[] LlamaTokens, int[] LoomTokens, float[] LoomMargins);

/// <summary>A GGUF file Loom exported, run through llama.cpp and Loom; <see cref="LlamaCppError"/> when llama.cpp rejected it.</summary>
internal sealed record ModelComparison(string Model, GgmlType Type, int? SlidingWindow, StepComparison[] Cases, string? LlamaCppError)
{
    public ModelComparison EnsureLoaded() => LlamaCppError == null ? this
        : throw new InvalidOperationException($"llama.cpp could not run Loom's {Type} export of {Model}: {LlamaCppError}");
}

/// <summary>
/// Exports every fixture model and the demo model to GGUF (F32 and Q8_0) with Loom's exporter, greedy-decodes their
/// prompts with llama.cpp in one node process, and runs Loom on the same files. Built lazily by the first test that
/// needs it, after the harness has confirmed llama.cpp is available, then shared by all tests of the class.
/// </summary>
public sealed class LlamaCppComparisonFixture : IDisposable
{
    public const int GreedySteps = 24;
    public static readonly GgmlType[] Types = [GgmlType.F32, GgmlType.Q8_0];
    public static readonly string[] Models = [.. GoldenModel.Names, DemoModelName];
    internal const string DemoModelName = "demo";

    // Prompts for the demo model, which has no golden cases: plain text, tokenized with its own tokenizer.
    private static readonly string[] DemoPrompts =
    [
        "The KV cache stores the keys and values of every token",
        "Continuous batching lets a server",
        "Once upon a time",
    ];

    // general.name for the exports. llama.cpp tunes Phi-3 vocabularies when the name contains "phi3" or "phi-3", looking
    // up <|endoftext|>, which the tiny phi3-fused fixture tokenizer lacks (real Phi-3 vocabularies have it).
    internal const string NeutralModelName = "loom fixture";

    private readonly string _directory = Directory.CreateTempSubdirectory("loom-llamacpp-").FullName;
    private readonly Lazy<Dictionary<(string, GgmlType), ModelComparison>> _comparisons;

    public LlamaCppComparisonFixture() => _comparisons = new(Compare, LazyThreadSafetyMode.ExecutionAndPublication);

    internal ModelComparison Get(string model, GgmlType type) => _comparisons.Value[(model, type)].EnsureLoaded();

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private Dictionary<(string, GgmlType), ModelComparison> Compare()
    {
        var files = new List<(string Model, GgmlType Type, string Path, int[][] Prompts)>();
        foreach (string model in Models)
        {
            using var source = Open(model);
            foreach (var type in Types)
            {
                string path = Path.Combine(_directory, $"{model}-{type}.gguf");
                GgufExporter.Export(source.Weights, source.Config, path, type, GgufTokenizerWriter.FromModelDirectory(source.Directory),
                    modelName: NeutralModelName);
                files.Add((model, type, path, source.Prompts));
            }
        }
        // One thread: results do not depend on it, and llama.cpp's spinning thread pool crawls on a busy 2-core machine.
        var llama = LlamaCppHarness.Greedy(files.Select(f => new GreedyJob(f.Path, f.Prompts, GreedySteps)).ToArray(), threads: 1);
        var comparisons = new Dictionary<(string, GgmlType), ModelComparison>();
        for (int i = 0; i < files.Count; i++)
        {
            var (model, type, path, prompts) = files[i];
            comparisons[(model, type)] = CompareWithLoom(model, type, path, prompts, llama[i]);
        }
        return comparisons;
    }

    internal static ModelComparison CompareWithLoom(string model, GgmlType type, string path, int[][] prompts, GreedyResult llama)
    {
        if (llama.Tokens is not { } llamaTokens) return new ModelComparison(model, type, null, [], llama.Error);
        Assert.Equal(prompts.Length, llamaTokens.Length);
        using var gguf = GgufWeightSource.Open(path);
        int blockSize = 16;
        int numBlocks = prompts.Sum(p => (p.Length + GreedySteps + blockSize) / blockSize) + 4;
        using var executor = new CpuBackend().LoadModel(gguf.Config, gguf, new KvCacheSpec(numBlocks, blockSize));
        var blocks = new BlockAllocator(numBlocks, seed: 7);
        int vocab = gguf.Config.VocabSize;
        var cases = new StepComparison[prompts.Length];
        for (int c = 0; c < prompts.Length; c++)
        {
            var prompt = prompts[c];
            var continuation = llamaTokens[c];
            Assert.True(continuation.Length == GreedySteps, $"{model} {type}: llama.cpp returned {continuation.Length} tokens");
            var sequence = new TestSequence(prompt.Concat(continuation));
            var logits = TestBatches.Step(executor, [new StepPart(sequence, sequence.Tokens.Count, AllLogits: true)], blocks);
            var tokens = new int[GreedySteps];
            var margins = new float[GreedySteps];
            for (int step = 0; step < GreedySteps; step++)
            {
                // The row at position p predicts the token at p + 1: step 0 is predicted by the last prompt position.
                var row = logits.AsSpan((prompt.Length - 1 + step) * vocab, vocab);
                (tokens[step], margins[step]) = TopOneAndMargin(row);
            }
            cases[c] = new StepComparison(prompt.Length, continuation, tokens, margins);
        }
        return new ModelComparison(model, type, gguf.Config.SlidingWindow, cases, null);
    }

    private static (int Token, float Margin) TopOneAndMargin(ReadOnlySpan<float> row)
    {
        int best = 0;
        float first = float.NegativeInfinity, second = float.NegativeInfinity;
        for (int i = 0; i < row.Length; i++)
        {
            if (row[i] > first) (second, first, best) = (first, row[i], i);
            else if (row[i] > second) second = row[i];
        }
        return (best, first - second);
    }

    internal sealed record Source(string Directory, ModelConfig Config, IWeightSource Weights, int[][] Prompts) : IDisposable
    {
        public void Dispose() => Weights.Dispose();
    }

    internal static Source Open(string model)
    {
        if (model == DemoModelName)
        {
            var tokenizer = HfTokenizer.FromDirectory(RepoPaths.DemoModel);
            var prompts = DemoPrompts.Select(text => tokenizer.Encode(text, addSpecialTokens: true)).ToArray();
            return new Source(RepoPaths.DemoModel, ModelConfigLoader.Load(RepoPaths.DemoModel),
                SafetensorsWeightSource.Open(RepoPaths.DemoModel), prompts);
        }
        var golden = GoldenModel.Load(model);
        return new Source(RepoPaths.FixtureModel(model), golden.Config, golden.Weights, golden.Cases.Select(c => c.PromptIds).ToArray());
    }
}
