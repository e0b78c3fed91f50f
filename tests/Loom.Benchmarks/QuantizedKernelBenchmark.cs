using System.Diagnostics;
using Loom.Backends.Cpu;
using Loom.Models.Weights;

namespace Loom.Benchmarks;

/// <summary>
/// One thread, one linear layer of the Qwen2.5-0.5B shape (by default gate_proj [4864, 896] and down_proj [896, 4864];
/// `--shapes 896x896,128x896,151936x896` for o_proj, k/v_proj and the lm_head) in Q8_0,
/// Q4_0, BF16, the types llama-quantize's K-quant files hold (Q5_0, Q5_1, Q4_1, IQ4_NL; Q4_K, Q5_K, Q6_K where rows
/// are whole 256-value blocks, i.e. down_proj; random blocks), for 1 and 32 tokens. Each call goes through the engine's
/// <see cref="LinearJob"/> on a one-thread pool (four row-range items per layer, run by the caller), so what a launch
/// does besides the kernel (preparing the input) is counted as in a forward pass. Timed in process CPU time (not wall time), so that other work on a shared
/// machine inflates the numbers less; best of several repetitions. Reports GMAC/s and weight GB/s.
/// Usage: dotnet run -c Release --project tests/Loom.Benchmarks -- kernels [--seconds S] [--types q8_0,q4_k,bf16,f16,...] [--widen-f16]
/// [--tokens 1,32,128] [--shapes 4864x896,896x4864] (out x in) [--resident-mb M]
/// (--resident-mb: enough copies of each layer to fill M MB, called in turn, so that weights stream from DRAM as in
/// a whole-model decode instead of sitting in L3; 0, the default, is one copy)
/// </summary>
internal static unsafe class QuantizedKernelBenchmark
{
    public static int Run(string[] args)
    {
        double seconds = double.Parse(Option(args, "--seconds", "0.3"));
        var dtypes = Option(args, "--types", "q8_0,q4_0,bf16,q5_0,q5_1,q4_1,iq4_nl,q4_k,q5_k,q6_k").Split(',').Select(t => Enum.Parse<DType>(t, ignoreCase: true)).ToArray();
        var tokenCounts = Option(args, "--tokens", "1,32").Split(',').Select(int.Parse).ToArray();
        var shapes = Option(args, "--shapes", "4864x896,896x4864").Split(',').Select(Shape).ToArray();
        long residentBytes = long.Parse(Option(args, "--resident-mb", "0")) * 1_000_000;
        bool widenF16 = args.Contains("--widen-f16");
        Console.WriteLine("| weight | shape [out, in] | tokens | µs/call (CPU time) | GMAC/s | weight GB/s |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: |");
        using var pool = new WorkerPool(1);
        var job = new LinearJob(pool);
        foreach (var (o, i) in shapes)
            foreach (var dtype in dtypes)
                foreach (int tokens in tokenCounts)
                    if (i % DTypes.BlockElements(dtype) == 0) Measure(job, dtype, o, i, tokens, seconds, residentBytes, widenF16);
        return 0;
    }

    private static string Option(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static (int Out, int In) Shape(string text)
    {
        var parts = text.Split('x');
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }

    private static void Measure(LinearJob job, DType dtype, int outFeatures, int inFeatures, int tokens, double seconds, long residentBytes, bool widenF16)
    {
        var rng = new Random(1);
        long count = (long)outFeatures * inFeatures;
        var bytes = new byte[DTypes.ByteCount(dtype, count)!.Value];
        switch (dtype)
        {
            case DType.BF16: HalfConvert.F32ToBF16(RandomValues(count, rng), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan())); break;
            case DType.F16: HalfConvert.F32ToF16(RandomValues(count, rng), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan())); break;
            default: RandomBlocks(dtype, bytes, rng); break;
        }
        var x = new float[tokens * inFeatures];
        for (int k = 0; k < x.Length; k++) x[k] = (float)(rng.NextDouble() - 0.5);
        var y = new float[tokens * outFeatures];
        fixed (byte* data = bytes)
        fixed (float* xp = x, yp = y)
        {
            var linears = new CpuLinear[Math.Max(1, residentBytes / bytes.Length)];
            for (int c = 0; c < linears.Length; c++)
            {
                linears[c] = CpuLinear.Create(new TensorInfo("w", dtype, [outFeatures, inFeatures], data, bytes.Length, "bench"));
                if (widenF16 && linears[c] is InterleavedHalfLinear half) half.WidenF16ToF32();
            }
            int next = 0;
            for (int k = 0; k < 20; k++) job.Run(linears[0], xp, tokens, yp); // tier-up
            var process = Process.GetCurrentProcess();
            double best = double.MaxValue;
            for (int rep = 0; rep < 5; rep++)
            {
                int calls = 0;
                process.Refresh();
                var start = process.TotalProcessorTime;
                var wall = Stopwatch.StartNew();
                while (wall.Elapsed.TotalSeconds < seconds / 5)
                {
                    job.Run(linears[next], xp, tokens, yp);
                    next = (next + 1) % linears.Length;
                    calls++;
                }
                process.Refresh();
                best = Math.Min(best, (process.TotalProcessorTime - start).TotalSeconds / calls);
            }
            double macs = (double)outFeatures * inFeatures * tokens;
            Console.WriteLine($"| {dtype}{(widenF16 && dtype == DType.F16 ? " (fp32 copy)" : "")} | [{outFeatures}, {inFeatures}] | {tokens} | {best * 1e6:F0} | {macs / best / 1e9:F1} | {bytes.Length / best / 1e9:F1} |");
        }
    }

    private static float[] RandomValues(long count, Random rng)
    {
        var values = new float[count];
        for (long k = 0; k < values.Length; k++) values[k] = (float)(rng.NextDouble() - 0.5) * 0.04f;
        return values;
    }

    /// <summary>Random block bytes with small f16 scales where each type keeps its scale(s) (a kernel's speed does not depend on the values).</summary>
    private static void RandomBlocks(DType dtype, byte[] bytes, Random rng)
    {
        rng.NextBytes(bytes);
        int blockBytes = DTypes.BlockBytes(dtype);
        int[] halves = dtype switch
        {
            DType.Q4_1 or DType.Q5_1 or DType.Q4_K or DType.Q5_K => [0, 2],
            DType.Q6_K => [208],
            _ => [0],
        };
        ushort scale = BitConverter.HalfToUInt16Bits((Half)0.001f);
        for (int b = 0; b < bytes.Length; b += blockBytes)
            foreach (int h in halves)
                System.Runtime.InteropServices.MemoryMarshal.Write(bytes.AsSpan(b + h), in scale);
    }
}
