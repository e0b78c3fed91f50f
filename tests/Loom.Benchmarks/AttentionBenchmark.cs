using System.Diagnostics;
using Loom.Backends;
using Loom.Backends.Cpu;

namespace Loom.Benchmarks;

/// <summary>
/// One thread, one layer of causal prefill attention in the Qwen2.5-0.5B shape (14 query heads, 2 KV heads, head size
/// 64, block size 16) through the engine's <see cref="AttentionJob"/>: a prompt of N tokens whose token t attends to
/// keys [0, t], from an fp32 and a bf16 cache. Timed in process CPU time, best of several repetitions, so other work on
/// a shared machine inflates it less. Reports µs per call and GFLOP/s (2 · 2 · heads · headDim per visible key).
/// Run it under DOTNET_EnableAVX512=0 for the AVX2 kernels.
/// Usage: dotnet tests/Loom.Benchmarks/bin/Release/net10.0/Loom.Benchmarks.dll attention [--tokens 128,512] [--seconds S]
/// </summary>
internal static unsafe class AttentionBenchmark
{
    private const int NumHeads = 14, NumKvHeads = 2, HeadDim = 64, BlockSize = 16;

    public static int Run(string[] args)
    {
        double seconds = double.Parse(Option(args, "--seconds", "0.5"));
        var tokenCounts = Option(args, "--tokens", "128,512").Split(',').Select(int.Parse).ToArray();
        Console.WriteLine($"AVX-512: {System.Runtime.Intrinsics.X86.Avx512F.IsSupported}");
        Console.WriteLine("| kv cache | tokens | µs/call (CPU time) | GFLOP/s |");
        Console.WriteLine("| --- | ---: | ---: | ---: |");
        foreach (var dtype in new[] { KvCacheDType.Float32, KvCacheDType.BFloat16 })
            foreach (int tokens in tokenCounts) Measure(dtype, tokens, seconds);
        return 0;
    }

    private static string Option(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static void Measure(KvCacheDType dtype, int tokens, double seconds)
    {
        int kvSize = NumKvHeads * HeadDim, qSize = NumHeads * HeadDim;
        int numBlocks = (tokens + BlockSize - 1) / BlockSize;
        using var cache = new PagedKvCache(numBlocks, BlockSize, numLayers: 1, kvSize, dtype);
        var rng = new Random(1);
        var row = new float[kvSize];
        var other = new float[kvSize];
        for (int p = 0; p < tokens; p++)
        {
            for (int i = 0; i < kvSize; i++) { row[i] = rng.NextSingle() * 2 - 1; other[i] = rng.NextSingle() * 2 - 1; }
            cache.Write(p / BlockSize, 0, p % BlockSize, row, other);
        }
        var q = new float[tokens * qSize];
        for (int i = 0; i < q.Length; i++) q[i] = rng.NextSingle() * 2 - 1;
        var output = new float[tokens * qSize];
        var positions = Enumerable.Range(0, tokens).ToArray();
        var tokenSeq = new int[tokens];
        SequenceSlice[] seqs = [new SequenceSlice(0, tokens, tokens, [.. Enumerable.Range(0, numBlocks)])];

        using var pool = new WorkerPool(1);
        var job = new AttentionJob(pool, NumHeads, NumKvHeads, HeadDim, slidingWindow: null);
        job.EnsureKeys(tokens);
        var process = Process.GetCurrentProcess();
        double best = double.MaxValue;
        fixed (float* qp = q)
        fixed (float* op = output)
        {
            // Warm up past tiered JIT (background recompiles would count as this process's CPU time) and first touch.
            for (var warm = Stopwatch.StartNew(); warm.Elapsed.TotalSeconds < 0.5;)
                job.Run(cache, 0, qp, op, positions, tokenSeq, seqs, tokens, tokens);
            for (int rep = 0; rep < 10; rep++)
            {
                int calls = 0;
                process.Refresh();
                var start = process.TotalProcessorTime;
                var wall = Stopwatch.StartNew();
                while (wall.Elapsed.TotalSeconds < seconds / 10 || calls == 0)
                {
                    job.Run(cache, 0, qp, op, positions, tokenSeq, seqs, tokens, tokens);
                    calls++;
                }
                process.Refresh();
                best = Math.Min(best, (process.TotalProcessorTime - start).TotalSeconds / calls);
            }
        }
        job.Dispose();
        double flops = 4.0 * NumHeads * HeadDim * tokens * (tokens + 1) / 2;
        Console.WriteLine($"| {dtype} | {tokens} | {best * 1e6:F0} | {flops / best / 1e9:F1} |");
    }
}
