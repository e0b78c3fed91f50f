using System.Diagnostics;
using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.Core.Sampling;
using Loom.Engine;
using Loom.Engine.Speculative;
using Loom.Models.Config;
using Loom.Models.Weights;
using Loom.Tokenizers;

namespace Loom.Benchmarks;

/// <summary>
/// Speculative decoding with many requests at once (issue 14's "no slowdown at 16 concurrent"): C greedy requests
/// added together and run to completion, on the same executor and prompts, alternating three engines: plain,
/// speculative with disable_by_batch_size below C (drafting switches off while the batch is that large), and
/// speculative with it unset (drafts every step), the order rotating each round. Output tokens/s over the whole run
/// (prefill included), its ratio to plain's, drafts per request per step, and whether every output equals plain's.
/// Usage: spec --concurrency C [--threads N] [--k K] [--method ngram|draft_model|all] [--disable-by-batch-size B]
/// [--tokens T] [--reps R] [--qwen]
/// </summary>
internal static partial class SpeculativeBenchmark
{
    private static readonly string[] Seeds =
    [
        Passage + " " + Passage + " " + Passage[..60],
        "Large language model serving systems",
        "We propose a novel",
        "The KV cache",
        "memory bandwidth, memory bandwidth, memory bandwidth, memory",
        "In this paper, we present a system for serving. In this paper, we present",
        "large language models (LLMs) large language models (LLMs) large language",
        "A scheduler decides",
    ];

    private static int RunConcurrent(string[] args, int concurrency, int threads, int k, string method, string root)
    {
        int disableBelow = Arg(args, "--disable-by-batch-size") ?? Math.Max(1, concurrency / 2);
        int tokens = Arg(args, "--tokens") ?? 48;
        int reps = Arg(args, "--reps") ?? 6;
        Console.WriteLine($"Speculative decoding benchmark: {concurrency} concurrent greedy requests, {threads} threads, k={k}, "
            + $"{tokens} output tokens each, {reps} rounds; disable_by_batch_size={disableBelow} vs unset; block 16, prefix caching off");
        Console.WriteLine("| model | method | disable_by_batch_size | output tokens | plain tok/s | spec tok/s | ratio | acceptance rate | drafts per request-step | same tokens |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        string demo = Path.Combine(root, "models", "demo");
        var tokenizer = HfTokenizer.FromDirectory(demo);
        int[][] prompts = [.. Enumerable.Range(0, concurrency).Select(i => tokenizer.Encode(Seeds[i % Seeds.Length], addSpecialTokens: true))];
        var run = new ConcurrentRun(concurrency, threads, tokens, reps, disableBelow);
        using (var weights = SafetensorsWeightSource.Open(demo))
        {
            var config = ModelConfigLoader.Load(demo);
            if (method is "ngram" or "all") run.Compare("demo (models/demo)", config, weights, Ngram(k), prompts);
            if (method is "draft_model" or "all")
            {
                using var draft = QuantizedWeightSource.Quantize(weights, DType.Q4_0);
                run.Compare("demo (models/demo)", config, weights, SelfDraft(k), prompts, draft);
            }
        }
        if (!args.Contains("--qwen")) return 0;
        var qwen = ModelConfigLoader.Load(Path.Combine(root, "tests", "fixtures", "dummy-configs", "qwen2.5-0.5b"));
        var random = new Random(3);
        int[][] ids = [.. Enumerable.Range(0, concurrency).Select(_ => Enumerable.Range(0, 24).Select(_ => random.Next(1, 150_000)).ToArray())];
        using var target = new DummyWeightSource(qwen, DType.BF16, seed: 1);
        if (method is "ngram" or "all") run.Compare("Qwen2.5-0.5B shape (dummy bf16)", qwen, target, Ngram(k), ids);
        if (method is "draft_model" or "all")
        {
            using var q4 = QuantizedWeightSource.Quantize(target, DType.Q4_0);
            run.Compare("Qwen2.5-0.5B shape (dummy bf16)", qwen, target, SelfDraft(k), ids, q4);
        }
        return 0;
    }

    private static SpeculativeConfig Ngram(int k) => new() { NumSpeculativeTokens = k, PromptLookupMin = 1, PromptLookupMax = 3 };

    private static SpeculativeConfig SelfDraft(int k) =>
        new() { Method = SpeculativeConfig.DraftModelMethod, Model = "self, Q4_0", NumSpeculativeTokens = k };

    /// <summary>One comparison's settings; <see cref="Compare"/> prints a row for each speculative engine.</summary>
    private sealed class ConcurrentRun(int concurrency, int threads, int outputTokens, int reps, int disableBelow)
    {
        public void Compare(string name, ModelConfig config, IWeightSource weights, SpeculativeConfig spec, int[][] prompts,
            IWeightSource? draftWeights = null)
        {
            int longest = prompts.Max(p => p.Length) + outputTokens + spec.NumSpeculativeTokens + 16;
            var kvCache = new KvCacheSpec(concurrency * ((longest + 15) / 16) + 16, 16);
            using var executor = new CpuBackend(threads).LoadModel(config, weights, kvCache);
            using var draftExecutor = draftWeights is null ? null : new CpuBackend(threads).LoadModel(config, draftWeights, kvCache);
            var options = new EngineOptions { BlockSize = 16, MaxNumSeqs = concurrency, EnablePrefixCaching = false, MaxNumBatchedTokens = 512 };
            LlmEngine[] engines =
            [
                new(executor, null, [], 1024, options),
                new(executor, null, [], 1024, options with { Speculative = spec with { DisableByBatchSize = disableBelow } }, draftExecutor),
                new(executor, null, [], 1024, options with { Speculative = spec }, draftExecutor),
            ];
            var greedy = new SamplingParams { Temperature = 0, MaxTokens = outputTokens, IgnoreEos = true };
            foreach (var engine in engines) RunAll(engine, prompts, greedy with { MaxTokens = 8 }); // warm-up: JIT, worker pool
            var seconds = new double[engines.Length];
            var before = engines.Select(e => e.GetStats().SpecDecoding).ToArray();
            var steps = new long[engines.Length];
            var outputs = new List<int>[engines.Length][];
            bool[] same = [true, true, true];
            for (int rep = 0; rep < reps; rep++)
            {
                // The order rotates each round, so no engine always runs first (or right after another).
                for (int r = 0; r < engines.Length; r++)
                {
                    int e = (r + rep) % engines.Length;
                    (outputs[e], double s, long n) = RunAll(engines[e], prompts, greedy);
                    seconds[e] += s;
                    steps[e] += n;
                }
                for (int e = 1; e < engines.Length; e++)
                    for (int i = 0; i < prompts.Length; i++) same[e] &= outputs[e][i].SequenceEqual(outputs[0][i]);
            }
            double total = (double)reps * prompts.Length * outputTokens, plainRate = total / seconds[0];
            for (int e = 1; e < engines.Length; e++)
            {
                var stats = engines[e].GetStats().SpecDecoding!.Since(before[e]);
                double rate = total / seconds[e];
                string disable = e == 1 ? disableBelow.ToString() : "unset";
                Console.WriteLine($"| {name} | {spec.Method} | {disable} | {outputTokens} x {reps * prompts.Length} | {plainRate:F1} | {rate:F1} | "
                    + $"{rate / plainRate:F2}x | {stats.AcceptanceRate:P0} | {(double)stats.NumDraftTokens / (steps[e] * prompts.Length):F2} | {(same[e] ? "yes" : "NO")} |");
            }
        }

        /// <summary>All prompts added at once and run to completion; their tokens, the seconds taken and the steps.</summary>
        private static (List<int>[] Outputs, double Seconds, long Steps) RunAll(LlmEngine engine, int[][] prompts, SamplingParams samplingParams)
        {
            var outputs = prompts.Select(_ => new List<int>()).ToArray();
            long start = Stopwatch.GetTimestamp(), steps = 0;
            for (int i = 0; i < prompts.Length; i++) engine.AddRequest(new EngineRequest($"c{i}", prompts[i], samplingParams));
            while (engine.HasWork)
            {
                steps++;
                foreach (var output in engine.Step())
                    foreach (var delta in output.Deltas)
                        outputs[int.Parse(output.RequestId.AsSpan(1))].AddRange(delta.NewTokenIds);
            }
            return (outputs, Stopwatch.GetElapsedTime(start).TotalSeconds, steps);
        }
    }
}
