using System.Diagnostics;
using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.Core.Sampling;
using Loom.Engine;
using Loom.Engine.StructuredOutput;
using Loom.Models.Config;
using Loom.Models.Weights;
using Loom.Tokenizers;

namespace Loom.Benchmarks;

/// <summary>
/// Decode throughput of constrained against unconstrained requests, side by side in one run (issue 13): the same
/// engine and prompts, 8 requests in flight, rounds alternating unconstrained / json_schema so that load drift on a
/// shared machine hits each alike. Every request runs its full length (unconstrained ones ignore EOS; the schema's
/// open string keeps greedy output going), so both sides decode the same batch shapes. The mask is computed over the demo tokenizer's vocabulary for both
/// models (the 0.5B shape's extra rows are masked as padding); mask time on a 151k vocabulary is the `grammar` command's.
/// Usage: dotnet run -c Release --project tests/Loom.Benchmarks -- grammar-decode [--threads N] [--rounds N]
/// </summary>
internal static class ConstrainedDecodeBenchmark
{
    private const int InFlight = 8;
    private const string Schema = """{"type":"object","properties":{"text":{"type":"string"},"n":{"type":"integer"}},"required":["text","n"]}""";

    public static int Run(string[] args)
    {
        int threadsAt = Array.IndexOf(args, "--threads"), roundsAt = Array.IndexOf(args, "--rounds");
        int threads = threadsAt >= 0 ? int.Parse(args[threadsAt + 1]) : Environment.ProcessorCount;
        int rounds = roundsAt >= 0 ? int.Parse(args[roundsAt + 1]) : 3;
        string root = Directory.GetCurrentDirectory();
        while (!File.Exists(Path.Combine(root, "Loom.slnx"))) root = Path.GetDirectoryName(root)!;
        string demo = Path.Combine(root, "models", "demo");
        var tokenizer = HfTokenizer.FromDirectory(demo);
        Console.WriteLine($"Constrained vs unconstrained decode, {threads} threads, {InFlight} in flight, greedy, {rounds} alternating rounds");
        using (var weights = SafetensorsWeightSource.Open(demo))
            Compare("demo (models/demo)", ModelConfigLoader.Load(demo), weights, tokenizer, threads, rounds, outputTokens: 64);
        var qwen = ModelConfigLoader.Load(Path.Combine(root, "tests", "fixtures", "dummy-configs", "qwen2.5-0.5b"));
        using (var weights = new DummyWeightSource(qwen, DType.BF16, seed: 1))
            Compare("Qwen2.5-0.5B shape (dummy, bf16)", qwen, weights, tokenizer, threads, rounds, outputTokens: 24);
        return 0;
    }

    private static void Compare(string name, ModelConfig config, IWeightSource weights, HfTokenizer tokenizer, int threads, int rounds, int outputTokens)
    {
        int eos = tokenizer.EosTokenId ?? 0;
        using var executor = new CpuBackend(threads).LoadModel(config, weights, new KvCacheSpec(InFlight * 8 + 16, 16));
        var engine = new LlmEngine(executor, tokenizer, [eos], 1024, new EngineOptions { BlockSize = 16, MaxNumSeqs = InFlight, MaxNumBatchedTokens = 512 });
        var cache = new GrammarCompilationCache(TokenizerVocabulary.From(tokenizer, [eos]));
        var kinds = new (string Name, GrammarCompilation? Grammar)[]
        {
            ("unconstrained", null),
            ("json_schema (string + integer)", cache.GetOrCompile("bench:schema", () => new StructuredOutputSpec(StructuredOutputKind.JsonSchema, "bench", Schema).Build())),
        };
        foreach (var (_, grammar) in kinds) grammar?.Task.Wait();
        var random = new Random(3);
        var prompts = Enumerable.Range(0, InFlight).Select(_ => Enumerable.Range(0, 16).Select(_ => random.Next(1, tokenizer.VocabSize)).ToArray()).ToArray();
        var p = new SamplingParams { Temperature = 0, MaxTokens = outputTokens };
        Run(engine, prompts, p with { MaxTokens = 4 }, null, "warm"); // JIT and worker pool
        var totals = kinds.Select(_ => (Tokens: 0L, Seconds: 0.0)).ToArray();
        for (int round = 0; round < rounds; round++)
            for (int k = 0; k < kinds.Length; k++)
            {
                var (tokens, seconds) = Run(engine, prompts, p with { IgnoreEos = kinds[k].Grammar is null }, kinds[k].Grammar, $"r{round}k{k}");
                totals[k] = (totals[k].Tokens + tokens, totals[k].Seconds + seconds);
            }
        Console.WriteLine();
        Console.WriteLine($"### {name}: {InFlight} prompts of 16 tokens, up to {outputTokens} output tokens each");
        Console.WriteLine("| requests | output tokens | seconds | output tokens/s | vs unconstrained |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        double baseline = totals[0].Tokens / totals[0].Seconds;
        for (int k = 0; k < kinds.Length; k++)
        {
            double rate = totals[k].Tokens / totals[k].Seconds;
            Console.WriteLine($"| {kinds[k].Name} | {totals[k].Tokens} | {totals[k].Seconds:F2} | {rate:F1} | {rate / baseline:F3} |");
        }
    }

    private static (long Tokens, double Seconds) Run(LlmEngine engine, int[][] prompts, SamplingParams p, GrammarCompilation? grammar, string tag)
    {
        long before = engine.GetStats().GenerationTokensTotal;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < prompts.Length; i++) engine.AddRequest(new EngineRequest($"{tag}-{i}", prompts[i], p) { Grammar = grammar });
        while (engine.HasWork) engine.Step();
        return (engine.GetStats().GenerationTokensTotal - before, clock.Elapsed.TotalSeconds);
    }
}
