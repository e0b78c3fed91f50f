using System.Diagnostics;
using Loom.Backends.Cpu.Kernels;
using Loom.Models.Weights;

namespace Loom.Benchmarks;

/// <summary>
/// The two F16/BF16 prefill paths of <see cref="InterleavedHalfGemm"/> side by side in one process, one thread:
/// widening in the 16 × 6 tile (what BF16 and F16 batches below <see cref="InterleavedHalfGemm.PackMinTokens"/> run)
/// against widening once per tile into a panel (what larger F16 batches run). The two alternate within each shape, the order
/// flipping every round, so that on a loaded machine both see the same minutes; process CPU time, best round of each.
/// Usage: dotnet run -c Release --project tests/Loom.Benchmarks -- half-packing [--seconds S] [--rounds R]
/// [--types f16,bf16] [--tokens 6,12,32,128,512] [--shapes 896x896,128x896,4864x896,896x4864] (out x in) [--isa]
/// (--isa: instead, the AVX2 kernels against the AVX-512 ones on the path each batch takes: tiled, but packed for F16
/// on AVX2 from <see cref="InterleavedHalfGemm.PackMinTokens"/> tokens; needs AVX-512)
/// </summary>
internal static unsafe class HalfPackingBenchmark
{
    private delegate void Kernel(InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride, int rowStart, int rowEnd);

    public static int Run(string[] args)
    {
        double seconds = double.Parse(Option(args, "--seconds", "0.2"));
        int rounds = int.Parse(Option(args, "--rounds", "4"));
        var types = Option(args, "--types", "f16,bf16").Split(',');
        var tokenCounts = Option(args, "--tokens", "6,12,32,128,512").Split(',').Select(int.Parse).ToArray();
        var shapes = Option(args, "--shapes", "896x896,128x896,4864x896,896x4864").Split(',').Select(s => s.Split('x').Select(int.Parse).ToArray());
        bool isa = args.Contains("--isa");
        if (!DenseGemm.UseAvx2) throw new PlatformNotSupportedException("both paths need AVX2 and FMA");
        if (isa && !CpuIsa.Avx512) throw new PlatformNotSupportedException("--isa needs AVX-512");
        Console.WriteLine(isa
            ? "| weight | shape [out, in] | tokens | AVX2 GMAC/s | AVX-512 GMAC/s | AVX-512 / AVX2 |"
            : "| weight | shape [out, in] | tokens | tiled GMAC/s | packed GMAC/s | packed / tiled |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: |");
        foreach (var shape in shapes)
            foreach (string type in types)
                foreach (int tokens in tokenCounts)
                    Measure(type, shape[0], shape[1], tokens, seconds, rounds, isa);
        return 0;
    }

    private static void Measure(string type, int outFeatures, int inFeatures, int tokens, double seconds, int rounds, bool isa)
    {
        bool f16 = type.Equals("f16", StringComparison.OrdinalIgnoreCase);
        // "tiled" and "packed" name the first and second column's kernel (with --isa: AVX2 and AVX-512).
        Kernel tiled, packed;
        if (!isa)
        {
            tiled = f16 ? InterleavedHalfGemm.ComputeRowsTiledF16 : InterleavedHalfGemm.ComputeRowsTiledBf16;
            packed = f16 ? InterleavedHalfGemm.ComputeRowsPacked<ExactHalves> : InterleavedHalfGemm.ComputeRowsPacked<Bf16Halves>;
        }
        else if (!f16)
        {
            tiled = InterleavedHalfGemm.ComputeRowsTiledBf16;
            packed = InterleavedHalfGemm.ComputeRowsTiledBf16Avx512;
        }
        else
        {
            tiled = tokens >= InterleavedHalfGemm.PackMinTokens ? InterleavedHalfGemm.ComputeRowsPacked<ExactHalves> : InterleavedHalfGemm.ComputeRowsTiledF16;
            packed = InterleavedHalfGemm.ComputeRowsTiledF16Avx512; // AVX-512 widens F16 in the tile at every batch size
        }
        var rng = new Random(1);
        var values = new float[(long)outFeatures * inFeatures];
        for (long k = 0; k < values.Length; k++) values[k] = (float)(rng.NextDouble() - 0.5) * 0.04f;
        var halves = new ushort[values.Length];
        if (f16) HalfConvert.F32ToF16(values, halves); else HalfConvert.F32ToBF16(values, halves);
        var x = new float[tokens * inFeatures];
        for (int k = 0; k < x.Length; k++) x[k] = (float)(rng.NextDouble() - 0.5);
        var y = new float[tokens * outFeatures];
        fixed (ushort* h = halves)
        fixed (float* xp = x, yp = y)
        {
            var w = InterleavedHalfWeights.Create(h, outFeatures, inFeatures);
            double bestTiled = double.MaxValue, bestPacked = double.MaxValue;
            for (int r = 0; r < rounds; r++)
            {
                bool packedFirst = r % 2 == 1;
                double a = Time(packedFirst ? packed : tiled, w, xp, tokens, yp, outFeatures, seconds);
                double b = Time(packedFirst ? tiled : packed, w, xp, tokens, yp, outFeatures, seconds);
                bestTiled = Math.Min(bestTiled, packedFirst ? b : a);
                bestPacked = Math.Min(bestPacked, packedFirst ? a : b);
            }
            double macs = (double)outFeatures * inFeatures * tokens;
            Console.WriteLine($"| {type.ToUpperInvariant()} | [{outFeatures}, {inFeatures}] | {tokens} | {macs / bestTiled / 1e9:F1} | {macs / bestPacked / 1e9:F1} | {bestTiled / bestPacked:F2} |");
        }
    }

    /// <summary>CPU seconds per call, over calls filling about <paramref name="seconds"/> of wall time (after three warm-up calls).</summary>
    private static double Time(Kernel kernel, InterleavedHalfWeights w, float* x, int tokens, float* y, int outFeatures, double seconds)
    {
        for (int k = 0; k < 3; k++) kernel(w, x, w.InFeatures, tokens, y, outFeatures, 0, outFeatures);
        var process = Process.GetCurrentProcess();
        int calls = 0;
        process.Refresh();
        var start = process.TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        while (calls == 0 || wall.Elapsed.TotalSeconds < seconds)
        {
            kernel(w, x, w.InFeatures, tokens, y, outFeatures, 0, outFeatures);
            calls++;
        }
        process.Refresh();
        return (process.TotalProcessorTime - start).TotalSeconds / calls;
    }

    private static string Option(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
