using System.Diagnostics;
using Loom.Backends.Cpu;
using Loom.Models.Gguf;
using Loom.Models.Weights;

namespace Loom.Benchmarks;

/// <summary>
/// One thread, one linear layer of the Qwen2.5-0.5B shape (gate_proj [4864, 896] and down_proj [896, 4864]) in Q8_0,
/// Q4_0 and BF16, for 1 and 32 tokens. Timed in process CPU time (not wall time), so that other work on a shared
/// machine inflates the numbers less; best of several repetitions. Reports GMAC/s and weight GB/s.
/// Usage: dotnet run -c Release --project tests/Loom.Benchmarks -- kernels [--seconds S] [--types q8_0,q4_0,bf16,f16]
/// [--tokens 1,32,128]
/// </summary>
internal static unsafe class QuantizedKernelBenchmark
{
    public static int Run(string[] args)
    {
        double seconds = double.Parse(Option(args, "--seconds", "0.3"));
        var dtypes = Option(args, "--types", "q8_0,q4_0,bf16").Split(',').Select(t => Enum.Parse<DType>(t, ignoreCase: true)).ToArray();
        var tokenCounts = Option(args, "--tokens", "1,32").Split(',').Select(int.Parse).ToArray();
        Console.WriteLine("| weight | shape [out, in] | tokens | µs/call (CPU time) | GMAC/s | weight GB/s |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: |");
        foreach (var (o, i) in new[] { (4864, 896), (896, 4864) })
            foreach (var dtype in dtypes)
                foreach (int tokens in tokenCounts)
                    Measure(dtype, o, i, tokens, seconds);
        return 0;
    }

    private static string Option(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static void Measure(DType dtype, int outFeatures, int inFeatures, int tokens, double seconds)
    {
        var rng = new Random(1);
        var values = new float[(long)outFeatures * inFeatures];
        for (long k = 0; k < values.Length; k++) values[k] = (float)(rng.NextDouble() - 0.5) * 0.04f;
        var bytes = new byte[DTypes.ByteCount(dtype, values.Length)!.Value];
        switch (dtype)
        {
            case DType.Q8_0: GgmlQuants.QuantizeQ8_0(values, bytes); break;
            case DType.Q4_0: GgmlQuants.QuantizeQ4_0(values, bytes); break;
            case DType.F16: HalfConvert.F32ToF16(values, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan())); break;
            default: HalfConvert.F32ToBF16(values, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan())); break;
        }
        var x = new float[tokens * inFeatures];
        for (int k = 0; k < x.Length; k++) x[k] = (float)(rng.NextDouble() - 0.5);
        var y = new float[tokens * outFeatures];
        fixed (byte* data = bytes)
        fixed (float* xp = x, yp = y)
        {
            var linear = CpuLinear.Create(new TensorInfo("w", dtype, [outFeatures, inFeatures], data, bytes.Length, "bench"));
            for (int k = 0; k < 20; k++) linear.ComputeRows(xp, inFeatures, tokens, yp, outFeatures, 0, outFeatures); // tier-up
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
                    linear.ComputeRows(xp, inFeatures, tokens, yp, outFeatures, 0, outFeatures);
                    calls++;
                }
                process.Refresh();
                best = Math.Min(best, (process.TotalProcessorTime - start).TotalSeconds / calls);
            }
            double macs = (double)outFeatures * inFeatures * tokens;
            Console.WriteLine($"| {dtype} | [{outFeatures}, {inFeatures}] | {tokens} | {best * 1e6:F0} | {macs / best / 1e9:F1} | {bytes.Length / best / 1e9:F1} |");
        }
    }
}
