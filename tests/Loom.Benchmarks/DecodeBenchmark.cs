using System.Diagnostics;
using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.Models.Config;
using Loom.Models.Weights;

namespace Loom.Benchmarks;

/// <summary>
/// Single-stream decode tokens/s of the CPU backend for the demo model and a dummy Qwen2.5-0.5B-shaped model (bf16),
/// next to the bandwidth bound (weight bytes per token over the read bandwidth measured in the same run).
/// Usage: dotnet run -c Release --project tests/Loom.Benchmarks -- decode [--tokens N] [--threads N]
///   [--quantization q8_0|q4_0] (matrices quantized while loading, as `--quantization` does) [--models demo|qwen|all]
/// </summary>
internal static class DecodeBenchmark
{
    private const int PromptLength = 16;
    private const int PrefillLength = 128;
    private const int BatchedSequences = 32;
    private const int BatchedSteps = 16;

    public static int Run(string[] args)
    {
        int tokens = IntOption(args, "--tokens", 64);
        int threads = IntOption(args, "--threads", Environment.ProcessorCount);
        DType? quantization = StringOption(args, "--quantization")?.ToLowerInvariant() switch
        {
            null => null,
            "q8_0" => DType.Q8_0,
            "q4_0" => DType.Q4_0,
            var other => throw new ArgumentException($"--quantization: unknown type '{other}' (q8_0 or q4_0)."),
        };
        string models = StringOption(args, "--models") ?? "all";
        string root = FindRoot();
        Console.WriteLine($"CPU decode, {threads} threads, {Environment.ProcessorCount} logical cores, {tokens} decode tokens after a {PromptLength}-token prompt");

        double bandwidth = DecodeBandwidth.MeasureReadGBps(threads);
        Console.WriteLine($"Measured read bandwidth: {bandwidth:F1} GB/s ({threads} threads, 1 GiB streaming sum, best of 5)");
        Console.WriteLine();
        Console.WriteLine($"| model | weights | weight MB/token | decode tokens/s | ms/token | bound tokens/s | fraction of bound | prefill tokens/s ({PrefillLength}-token prompt) | batched decode tokens/s ({BatchedSequences} sequences) |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");

        if (models is "all" or "demo")
        {
            string demo = Path.Combine(root, "models", "demo");
            var demoConfig = ModelConfigLoader.Load(demo);
            using var weights = Quantize(SafetensorsWeightSource.Open(demo), quantization);
            Report("demo (models/demo)", demoConfig, weights, threads, tokens, bandwidth);
        }
        if (models is "all" or "qwen")
        {
            var qwenConfig = ModelConfigLoader.Load(Path.Combine(root, "tests", "fixtures", "dummy-configs", "qwen2.5-0.5b"));
            using var weights = Quantize(new DummyWeightSource(qwenConfig, DType.BF16, seed: 1), quantization);
            Report("Qwen2.5-0.5B shape (dummy)", qwenConfig, weights, threads, tokens, bandwidth);
        }
        return 0;
    }

    private static IWeightSource Quantize(IWeightSource weights, DType? type) =>
        type is DType t ? QuantizedWeightSource.Quantize(weights, t) : weights;

    private static string? StringOption(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static void Report(string name, ModelConfig config, IWeightSource weights, int threads, int tokens, double bandwidth)
    {
        const int blockSize = 16;
        int numBlocks = Math.Max((Math.Max(PromptLength + tokens, PrefillLength) + blockSize) / blockSize + 1,
            BatchedSequences * BlocksPerBatchedSequence(blockSize));
        using var executor = (CpuModelExecutor)new CpuBackend(threads).LoadModel(config, weights, new KvCacheSpec(numBlocks, blockSize));
        var (seconds, cpuSeconds) = DecodeSeconds(executor, tokens);
        double prefillTokensPerSecond = PrefillLength / PrefillSeconds(executor);
        double batchedTokensPerSecond = BatchedSequences * BatchedSteps / BatchedDecodeSeconds(executor, blockSize);
        double tokensPerSecond = tokens / seconds;
        double mbPerToken = executor.WeightBytesPerToken / 1e6;
        double bound = bandwidth * 1e3 / mbPerToken;
        string dtype = weights.Tensors.Values.First(t => t.Shape.Length == 2).DType.ToString();
        Console.WriteLine($"| {name} | {dtype} | {mbPerToken:F1} | {tokensPerSecond:F1} | {1000 / tokensPerSecond:F2} | {bound:F1} | {tokensPerSecond / bound:P0} | {prefillTokensPerSecond:F0} | {batchedTokensPerSecond:F1} |");
        // With one thread nothing spins, so CPU time is the work itself: a steadier figure on a loaded machine than wall time.
        if (threads == 1) Console.WriteLine($"  decode CPU time: {cpuSeconds / tokens * 1000:F2} ms/token = {tokens / cpuSeconds:F1} tokens per CPU-second");
    }

    /// <summary>
    /// Prefills a prompt, warms up (passes of <paramref name="tokens"/> steps for at least a second, so tiered
    /// compilation has promoted everything on the path), then times <paramref name="tokens"/> one-token greedy steps through the cache.
    /// </summary>
    private static (double Wall, double Cpu) DecodeSeconds(CpuModelExecutor executor, int tokens)
    {
        int vocab = executor.Config.VocabSize;
        var blockTable = Enumerable.Range(0, executor.KvCache.NumBlocks).ToArray();
        var logits = new float[vocab];
        var prompt = Enumerable.Range(0, PromptLength).Select(i => (i * 7919 + 13) % vocab).ToArray();
        executor.Forward(Batch(prompt, 0, blockTable)).CopyTo(logits);

        int position = PromptLength;
        var step = new ForwardBatch(maxNumTokens: 1, maxNumSeqs: 1, maxNumLogits: 1) { NumTokens = 1, NumSeqs = 1, NumLogits = 1 };
        void Step()
        {
            step.TokenIds[0] = ArgMax(logits);
            step.Positions[0] = position;
            step.Seqs[0] = new SequenceSlice(0, 1, position + 1, blockTable);
            executor.Forward(step).CopyTo(logits);
            position++;
        }

        // Warm-up passes rewrite the same slots (positions restart after each pass), so the cache needs no extra room.
        var warmup = Stopwatch.StartNew();
        while (warmup.Elapsed.TotalSeconds < 1)
        {
            for (int i = 0; i < tokens; i++) Step();
            position = PromptLength;
        }
        var process = Process.GetCurrentProcess();
        var cpuStart = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < tokens; i++) Step();
        double wall = watch.Elapsed.TotalSeconds;
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpuStart).TotalSeconds);
    }

    /// <summary>Best of three forwards of a whole prompt in one batch (one logits row), after one warm-up.</summary>
    private static double PrefillSeconds(CpuModelExecutor executor)
    {
        int vocab = executor.Config.VocabSize;
        var blockTable = Enumerable.Range(0, executor.KvCache.NumBlocks).ToArray();
        var prompt = Enumerable.Range(0, PrefillLength).Select(i => (i * 104729 + 7) % vocab).ToArray();
        var logits = new float[vocab];
        double best = double.MaxValue;
        for (int i = 0; i < 4; i++)
        {
            var watch = Stopwatch.StartNew();
            executor.Forward(Batch(prompt, 0, blockTable)).CopyTo(logits);
            if (i > 0) best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return best;
    }

    private static int BlocksPerBatchedSequence(int blockSize) => (PromptLength + 2 * BatchedSteps + blockSize - 1) / blockSize;

    /// <summary>
    /// <see cref="BatchedSequences"/> sequences decoding together, one token each per step (what continuous batching
    /// runs): prompts prefilled in one batch, <see cref="BatchedSteps"/> warm-up steps, then as many timed steps.
    /// </summary>
    private static double BatchedDecodeSeconds(CpuModelExecutor executor, int blockSize)
    {
        int vocab = executor.Config.VocabSize;
        int perSeq = BlocksPerBatchedSequence(blockSize);
        var tables = Enumerable.Range(0, BatchedSequences).Select(i => Enumerable.Range(i * perSeq, perSeq).ToArray()).ToArray();
        var logits = new float[BatchedSequences * vocab];
        var prefill = ForwardBatch.Of(
            tokenIds: Enumerable.Range(0, BatchedSequences * PromptLength).Select(i => (i * 7919 + 13) % vocab).ToArray(),
            positions: Enumerable.Range(0, BatchedSequences * PromptLength).Select(i => i % PromptLength).ToArray(),
            seqs: tables.Select((t, i) => new SequenceSlice(i * PromptLength, PromptLength, PromptLength, t)).ToArray(),
            logitsIndices: Enumerable.Range(0, BatchedSequences).Select(i => i * PromptLength + PromptLength - 1).ToArray());
        executor.Forward(prefill).CopyTo(logits);

        var watch = new Stopwatch();
        for (int step = 0; step < 2 * BatchedSteps; step++)
        {
            if (step == BatchedSteps) watch.Start();
            int position = PromptLength + step;
            var batch = ForwardBatch.Of(
                tokenIds: Enumerable.Range(0, BatchedSequences).Select(i => ArgMax(logits.AsSpan(i * vocab, vocab))).ToArray(),
                positions: Enumerable.Repeat(position, BatchedSequences).ToArray(),
                seqs: tables.Select((t, i) => new SequenceSlice(i, 1, position + 1, t)).ToArray(),
                logitsIndices: Enumerable.Range(0, BatchedSequences).ToArray());
            executor.Forward(batch).CopyTo(logits);
        }
        return watch.Elapsed.TotalSeconds;
    }

    private static ForwardBatch Batch(int[] tokens, int start, int[] blockTable) => ForwardBatch.Of(
        tokenIds: tokens,
        positions: Enumerable.Range(start, tokens.Length).ToArray(),
        seqs: [new SequenceSlice(0, tokens.Length, start + tokens.Length, blockTable)],
        logitsIndices: [tokens.Length - 1]);

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    private static int IntOption(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int v) ? v : fallback;
    }

    private static string FindRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Loom.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("Loom.slnx not found above the current directory.");
    }
}
