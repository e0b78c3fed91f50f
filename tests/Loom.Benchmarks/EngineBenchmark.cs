using System.Diagnostics;
using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.Core.Sampling;
using Loom.Engine;
using Loom.Models.Config;
using Loom.Models.Weights;

namespace Loom.Benchmarks;

/// <summary>
/// Offline engine throughput (issue 3): output tokens/s of <see cref="LlmEngine"/> with 1, 8, 32 and 128 requests in
/// flight (continuous batching) against one at a time; time to first token of a request sharing a 1,000-token prefix,
/// prefix-cached versus not; KV bytes per token; peak process memory.
/// Usage: dotnet run -c Release --project tests/Loom.Benchmarks -- engine [--threads N] [--skip-throughput] [--skip-qwen-throughput]
/// </summary>
internal static class EngineBenchmark
{
    private static readonly int[] Concurrency = [1, 8, 32, 128];

    public static int Run(string[] args)
    {
        int threadsAt = Array.IndexOf(args, "--threads");
        int threads = threadsAt >= 0 ? int.Parse(args[threadsAt + 1]) : Environment.ProcessorCount;
        bool throughput = !args.Contains("--skip-throughput");
        string root = FindRoot();
        Console.WriteLine($"Engine offline benchmark, {threads} threads, {Environment.ProcessorCount} logical cores, greedy, block size 16");

        string demo = Path.Combine(root, "models", "demo");
        var demoConfig = ModelConfigLoader.Load(demo);
        var qwenConfig = ModelConfigLoader.Load(Path.Combine(root, "tests", "fixtures", "dummy-configs", "qwen2.5-0.5b"));
        if (throughput)
        {
            using (var weights = SafetensorsWeightSource.Open(demo))
                Throughput("demo (models/demo)", demoConfig, weights, threads, promptRange: (16, 64), outputTokens: 64);
            if (!args.Contains("--skip-qwen-throughput"))
                using (var weights = new DummyWeightSource(qwenConfig, DType.BF16, seed: 1))
                    Throughput("Qwen2.5-0.5B shape (dummy, bf16)", qwenConfig, weights, threads, promptRange: (8, 24), outputTokens: 16);
        }

        using (var weights = SafetensorsWeightSource.Open(demo))
            PrefixTtft("demo (models/demo)", demoConfig, weights, threads);
        using (var weights = new DummyWeightSource(qwenConfig, DType.BF16, seed: 1))
            PrefixTtft("Qwen2.5-0.5B shape (dummy, bf16)", qwenConfig, weights, threads);

        KvBytesPerToken(root);
        Console.WriteLine($"Peak working set of the process: {Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0):F0} MiB");
        return 0;
    }

    private static LlmEngine CreateEngine(ModelConfig config, IWeightSource weights, int threads, int numBlocks, bool prefixCaching, out IModelExecutor executor)
    {
        executor = new CpuBackend(threads).LoadModel(config, weights, new KvCacheSpec(numBlocks, 16));
        var options = new EngineOptions { BlockSize = 16, MaxNumSeqs = 128, MaxNumBatchedTokens = 512, EnablePrefixCaching = prefixCaching };
        return new LlmEngine(executor, null, [], Math.Min(config.MaxPositionEmbeddings, 2048), options);
    }

    private static void Throughput(string name, ModelConfig config, IWeightSource weights, int threads, (int Min, int Max) promptRange, int outputTokens)
    {
        int numBlocks = 128 * ((promptRange.Max + outputTokens) / 16 + 2);
        var engine = CreateEngine(config, weights, threads, numBlocks, prefixCaching: false, out var executor);
        using (executor)
        {
            var random = new Random(5);
            var greedy = new SamplingParams { Temperature = 0, MaxTokens = outputTokens, IgnoreEos = true };
            int[] Prompt() => [.. Enumerable.Range(0, random.Next(promptRange.Min, promptRange.Max + 1)).Select(_ => random.Next(1, config.VocabSize))];
            // Warm-up: tiered JIT and the worker pool.
            for (int i = 0; i < 4; i++) engine.AddRequest(new EngineRequest($"warm{i}", Prompt(), greedy with { MaxTokens = 8 }));
            while (engine.HasWork) engine.Step();

            Console.WriteLine();
            Console.WriteLine($"### {name}: prompts {promptRange.Min}-{promptRange.Max} tokens, {outputTokens} output tokens each");
            Console.WriteLine("| requests in flight | requests | output tokens | seconds | output tokens/s | vs one at a time |");
            Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: |");
            double baseline = 0;
            foreach (int inFlight in Concurrency)
            {
                int requests = Math.Max(inFlight, 4);
                var prompts = Enumerable.Range(0, requests).Select(_ => Prompt()).ToArray();
                long before = engine.GetStats().GenerationTokensTotal;
                var clock = Stopwatch.StartNew();
                int next = 0;
                while (next < requests || engine.HasWork)
                {
                    while (next < requests && engine.NumUnfinishedRequests < inFlight)
                        engine.AddRequest(new EngineRequest($"c{inFlight}-{next}", prompts[next++], greedy));
                    engine.Step();
                }
                double seconds = clock.Elapsed.TotalSeconds;
                long tokens = engine.GetStats().GenerationTokensTotal - before;
                double rate = tokens / seconds;
                if (inFlight == 1) baseline = rate;
                Console.WriteLine($"| {inFlight} | {requests} | {tokens} | {seconds:F2} | {rate:F1} | {rate / baseline:F2}x |");
            }
        }
    }

    private static void PrefixTtft(string name, ModelConfig config, IWeightSource weights, int threads)
    {
        const int prefixLength = 1000;
        var random = new Random(9);
        int[] Tokens(int n) => [.. Enumerable.Range(0, n).Select(_ => random.Next(1, config.VocabSize))];
        var one = new SamplingParams { Temperature = 0, MaxTokens = 1, IgnoreEos = true };
        var engine = CreateEngine(config, weights, threads, numBlocks: 256, prefixCaching: true, out var executor);
        using (executor)
        {
            double Ttft(string id, int[] prompt)
            {
                var clock = Stopwatch.StartNew();
                engine.AddRequest(new EngineRequest(id, prompt, one));
                while (engine.HasWork)
                    foreach (var output in engine.Step())
                        if (output.RequestId == id && output.Deltas.Count > 0) return clock.Elapsed.TotalMilliseconds;
                throw new InvalidOperationException("no output");
            }
            Ttft("warm", [.. Tokens(prefixLength), .. Tokens(8)]);
            var prefix = Tokens(prefixLength);
            double cold = Ttft("cold", [.. prefix, .. Tokens(8)]);
            double warm = Ttft("cached", [.. prefix, .. Tokens(8)]);
            while (engine.HasWork) engine.Step();
            Console.WriteLine();
            Console.WriteLine($"### {name}: time to first token, {prefixLength}-token shared prefix + 8 new tokens (max_num_batched_tokens 512)");
            Console.WriteLine($"uncached {cold:F1} ms, prefix-cached {warm:F1} ms: {cold / warm:F1}x faster (cache hits {engine.GetStats().PrefixCacheHits} tokens in all)");
        }
    }

    private static void KvBytesPerToken(string root)
    {
        var backend = new CpuBackend(1);
        Console.WriteLine();
        Console.WriteLine("| model shape | layers | KV heads x head dim | KV bytes per token (fp32 cache) |");
        Console.WriteLine("| --- | ---: | ---: | ---: |");
        var dirs = Directory.GetDirectories(Path.Combine(root, "tests", "fixtures", "models"))
            .Concat(Directory.GetDirectories(Path.Combine(root, "tests", "fixtures", "dummy-configs")))
            .Append(Path.Combine(root, "models", "demo"));
        foreach (string dir in dirs.Order())
        {
            var config = ModelConfigLoader.Load(dir);
            Console.WriteLine($"| {Path.GetFileName(dir)} | {config.NumHiddenLayers} | {config.NumKeyValueHeads} x {config.HeadDim} | {backend.KvBytesPerBlock(config, 16) / 16} |");
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Loom.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("Loom.slnx not found");
    }
}
