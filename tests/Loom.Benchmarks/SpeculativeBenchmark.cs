using System.Diagnostics;
using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.Core.Sampling;
using Loom.Engine;
using Loom.Engine.Speculative;
using Loom.Models.Config;
using Loom.Tokenizers;
using Loom.Models.Weights;

namespace Loom.Benchmarks;

/// <summary>
/// Speculative decoding, single stream (issue 14): decode tokens/s of one greedy request with and without
/// speculation, alternating on the same executor: n-gram on an input-grounded workload (the prompt repeats a passage,
/// so the continuation copies it) and on free generation; the draft-model method with a Q4_0 copy of the target
/// (quantized while loading) on free generation. Acceptance rate and mean acceptance length of each run. Outputs are
/// checked equal token for token.
/// Usage: dotnet run -c Release --project tests/Loom.Benchmarks -- spec [--threads N] [--k K] [--skip-qwen] [--method ngram|draft_model|all] [--adaptive]
/// With --concurrency C: C requests at once instead (<see cref="RunConcurrent"/>).
/// </summary>
internal static partial class SpeculativeBenchmark
{
    private const string Passage =
        "Speculative decoding lets a cheap proposer guess several tokens that the target model then verifies in a single "
        + "forward pass, so a memory-bound decode step yields more than one token when the guesses are right.";

    public static int Run(string[] args)
    {
        int threads = Arg(args, "--threads") ?? Environment.ProcessorCount;
        int k = Arg(args, "--k") ?? 4;
        int at = Array.IndexOf(args, "--method");
        string method = at >= 0 ? args[at + 1] : "ngram";
        string root = FindRoot();
        if (Arg(args, "--concurrency") is int concurrency) return RunConcurrent(args, concurrency, threads, k, method, root);
        Console.WriteLine($"Speculative decoding benchmark: single stream, greedy, {threads} threads, k={k} (ngram lookup 1..3; draft_model: Q4_0 self-draft), block 16, prefix caching off");
        Console.WriteLine("| model | method | workload | output tokens | plain tok/s | spec tok/s | speedup | plain ms/step | spec ms/step | acceptance rate | mean acceptance length | same tokens |");
        Console.WriteLine("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        if (method is "ngram" or "all") RunNgram(args, threads, k, root);
        if (method is "draft_model" or "all") RunDraftModel(args, threads, k, root);
        return 0;
    }

    private static void RunNgram(string[] args, int threads, int k, string root)
    {
        var spec = new SpeculativeConfig { NumSpeculativeTokens = k, PromptLookupMin = 1, PromptLookupMax = 3, AdaptiveK = args.Contains("--adaptive") };
        string demo = Path.Combine(root, "models", "demo");
        var demoTokenizer = HfTokenizer.FromDirectory(demo);
        int[] Text(string s) => demoTokenizer.Encode(s, addSpecialTokens: true);
        using (var weights = SafetensorsWeightSource.Open(demo))
            Compare("demo (models/demo)", ModelConfigLoader.Load(demo), weights, threads, spec, outputTokens: 96, reps: 2,
            [
                ("input-grounded (passage repeated)", [Text(Passage + " " + Passage + " " + Passage[..60])]),
                ("input-grounded (own continuation)", [Text("Large language model serving systems"), Text("We propose a novel")]),
                ("free generation", [Text("Large language model serving systems"), Text("We propose a novel")]),
            ]);
        if (!args.Contains("--skip-qwen"))
        {
            var qwen = ModelConfigLoader.Load(Path.Combine(root, "tests", "fixtures", "dummy-configs", "qwen2.5-0.5b"));
            var random = new Random(3);
            int[] span = [.. Enumerable.Range(0, 48).Select(_ => random.Next(1, 150_000))];
            using var weights = new DummyWeightSource(qwen, DType.BF16, seed: 1);
            Compare("Qwen2.5-0.5B shape (dummy bf16)", qwen, weights, threads, spec, outputTokens: 32, reps: 3,
            [
                ("input-grounded (own continuation)", [span[..24]]),
                ("free generation (ids)", [[.. Enumerable.Range(0, 24).Select(_ => random.Next(1, 150_000))]]),
            ]);
        }
    }

    /// <summary>
    /// Method draft_model with a Q4_0 self-draft (the target's weights quantized while loading, as
    /// {"quantization":"q4_0"} does): the draft's executor has a cache of the target's blocks.
    /// </summary>
    private static void RunDraftModel(string[] args, int threads, int k, string root)
    {
        var spec = new SpeculativeConfig
        {
            Method = SpeculativeConfig.DraftModelMethod, Model = "self, Q4_0", NumSpeculativeTokens = k, AdaptiveK = args.Contains("--adaptive"),
        };
        string demo = Path.Combine(root, "models", "demo");
        var demoTokenizer = HfTokenizer.FromDirectory(demo);
        int[] Text(string s) => demoTokenizer.Encode(s, addSpecialTokens: true);
        using (var weights = SafetensorsWeightSource.Open(demo))
        using (var draft = QuantizedWeightSource.Quantize(weights, DType.Q4_0))
            Compare("demo (models/demo)", ModelConfigLoader.Load(demo), weights, threads, spec, outputTokens: 96, reps: 2,
                [("free generation", [Text("Large language model serving systems"), Text("We propose a novel")])], draft);
        if (args.Contains("--skip-qwen")) return;
        var qwen = ModelConfigLoader.Load(Path.Combine(root, "tests", "fixtures", "dummy-configs", "qwen2.5-0.5b"));
        var random = new Random(3);
        using var target = new DummyWeightSource(qwen, DType.BF16, seed: 1);
        using var q4 = QuantizedWeightSource.Quantize(target, DType.Q4_0);
        Compare("Qwen2.5-0.5B shape (dummy bf16)", qwen, target, threads, spec, outputTokens: 32, reps: 3,
            [("free generation (ids)", [[.. Enumerable.Range(0, 24).Select(_ => random.Next(1, 150_000))]])], q4);
    }

    /// <param name="draftWeights">The draft model's weights (same config) for method draft_model; null for ngram.</param>
    private static void Compare(string name, ModelConfig config, IWeightSource weights, int threads, SpeculativeConfig spec, int outputTokens,
        int reps, (string Name, int[][] Prompts)[] workloads, IWeightSource? draftWeights = null)
    {
        var kvCache = new KvCacheSpec(64, 16);
        using var executor = new CpuBackend(threads).LoadModel(config, weights, kvCache);
        using var draftExecutor = draftWeights is null ? null : new CpuBackend(threads).LoadModel(config, draftWeights, kvCache);
        var options = new EngineOptions { BlockSize = 16, MaxNumSeqs = 4, EnablePrefixCaching = false };
        var plain = new LlmEngine(executor, null, [], 1024, options);
        var ngram = new LlmEngine(executor, null, [], 1024, options with { Speculative = spec }, draftExecutor);
        var greedy = new SamplingParams { Temperature = 0, MaxTokens = outputTokens, IgnoreEos = true };
        Generate(plain, workloads[0].Prompts[0], greedy with { MaxTokens = 8 }); // warm-up: JIT, worker pool
        Generate(ngram, workloads[0].Prompts[0], greedy with { MaxTokens = 8 });
        foreach (var (workload, seeds) in workloads)
        {
            var prompts = workload.EndsWith("(own continuation)") ? seeds.Select(p => Grounded(plain, p, greedy)).ToArray() : seeds;
            double plainSeconds = 0, specSeconds = 0;
            long tokens = 0, plainSteps = 0, specSteps = 0;
            bool same = true;
            var before = ngram.GetStats().SpecDecoding;
            for (int rep = 0; rep < reps; rep++)
                foreach (var prompt in prompts)
                {
                    var (a, ta, sa) = Generate(plain, prompt, greedy);
                    var (b, tb, sb) = Generate(ngram, prompt, greedy);
                    plainSteps += sa;
                    specSteps += sb;
                    same &= a.SequenceEqual(b);
                    plainSeconds += ta;
                    specSeconds += tb;
                    tokens += a.Count - 1;
                }
            var stats = ngram.GetStats().SpecDecoding!.Since(before);
            double plainRate = tokens / plainSeconds, specRate = tokens / specSeconds;
            Console.WriteLine($"| {name} | {spec.Method} | {workload} | {outputTokens} x {reps * prompts.Length} | {plainRate:F1} | {specRate:F1} | {specRate / plainRate:F2}x | "
                + $"{1000 * plainSeconds / plainSteps:F1} | {1000 * specSeconds / specSteps:F1} | "
                + $"{stats.AcceptanceRate:P0} | {stats.MeanAcceptanceLength:F2} | {(same ? "yes" : "NO")} |");
        }
        if (draftExecutor is not null) DraftAlone(name, draftExecutor, options, workloads[0].Prompts[0], greedy);
    }

    /// <summary>The draft model decoding by itself: what one draft forward costs next to the target's step.</summary>
    private static void DraftAlone(string name, IModelExecutor draftExecutor, EngineOptions options, int[] prompt, SamplingParams greedy)
    {
        var alone = new LlmEngine(draftExecutor, null, [], 1024, options);
        Generate(alone, prompt, greedy with { MaxTokens = 8 });
        var (tokens, seconds, steps) = Generate(alone, prompt, greedy);
        Console.WriteLine($"  ({name}: the Q4_0 draft alone decodes {(tokens.Count - 1) / seconds:F1} tok/s, {1000 * seconds / steps:F1} ms/step)");
    }

    /// <summary>
    /// An input-grounded prompt for any model: the seed, the model's own greedy continuation of it, then the seed again,
    /// so the answer to the second copy can be a span of the prompt (as in editing or summarising; small models copy
    /// their context more or less faithfully, and the acceptance rate says how much).
    /// </summary>
    private static int[] Grounded(LlmEngine engine, int[] seed, SamplingParams samplingParams)
    {
        var (continuation, _, _) = Generate(engine, seed, samplingParams);
        return [.. seed, .. continuation, .. seed];
    }

    /// <summary>One request alone; returns its tokens, the seconds from its first token to its last and the steps between (decode only).</summary>
    private static (List<int> Tokens, double DecodeSeconds, int DecodeSteps) Generate(LlmEngine engine, int[] prompt, SamplingParams samplingParams)
    {
        var tokens = new List<int>();
        engine.AddRequest(new EngineRequest("bench", prompt, samplingParams));
        long firstToken = 0;
        int steps = 0;
        while (engine.HasWork)
        {
            if (tokens.Count > 0) steps++;
            foreach (var output in engine.Step())
                foreach (var delta in output.Deltas)
                {
                    if (tokens.Count == 0 && delta.NewTokenIds.Count > 0) firstToken = Stopwatch.GetTimestamp();
                    tokens.AddRange(delta.NewTokenIds);
                }
        }
        return (tokens, Stopwatch.GetElapsedTime(firstToken).TotalSeconds, steps);
    }

    private static int? Arg(string[] args, string name)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 ? int.Parse(args[at + 1]) : null;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Loom.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("Loom.slnx not found");
    }
}
