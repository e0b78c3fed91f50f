using System.Diagnostics;
using System.Runtime.InteropServices;
using Loom.Backends.Cpu;
using Loom.Models.Weights;

namespace Loom.Benchmarks;

/// <summary>
/// The linear layers of one Qwen2.5-0.5B-shaped decoder layer (q/k/v on one input, o, gate/up on one input, down) as
/// the forward pass launches them through <see cref="LinearJob"/>, on a pool of N threads, F16 or BF16: wall time per
/// layer pass, best and median of many short passes (a pass is milliseconds, so on a shared machine some of them
/// find every thread scheduled: the best pass is the one to compare, the median shows the load). This is what the
/// row split between threads and the tile kernels decide; norms, attention and the rest of the layer are not in it.
/// Usage: dotnet run -c Release --project tests/Loom.Benchmarks -- half-layer [--types bf16,f16] [--tokens 128,512]
/// [--threads 1,2] [--seconds S]
/// </summary>
internal static unsafe class HalfLayerBenchmark
{
    public static int Run(string[] args)
    {
        if (args.Contains("--split-work")) return SplitWork(args);
        var types = Option(args, "--types", "bf16,f16").Split(',');
        var tokenCounts = Option(args, "--tokens", "128,512").Split(',').Select(int.Parse).ToArray();
        var threadCounts = Option(args, "--threads", "1,2").Split(',').Select(int.Parse).ToArray();
        double seconds = double.Parse(Option(args, "--seconds", "3"));
        Console.WriteLine("| weight | tokens | threads | best ms/layer | median ms/layer | GEMM-only prompt t/s (24 layers, best) | passes |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (string type in types)
        {
            var dtype = type.Equals("f16", StringComparison.OrdinalIgnoreCase) ? DType.F16 : DType.BF16;
            using var layer = new Layer(dtype);
            foreach (int threads in threadCounts)
                foreach (int tokens in tokenCounts)
                    layer.Measure(threads, tokens, seconds);
        }
        return 0;
    }

    /// <summary>
    /// The work of a two-thread layer pass under two row splits, on one thread in CPU time (so the machine's load
    /// does not enter): the previous split (items of ceil(rows / 8) rounded up to 16 rows: 112-row items of fourteen
    /// groups, 16-row k/v items) and the even split of 32-row granules that <see cref="LinearJob"/> makes now. The
    /// 512-bit tile computes four groups at a time, so the previous items repeat groups; each item runs as its own
    /// F16/BF16 kernel call, as on a worker. Alternating, best of several rounds.
    /// Usage: ... half-layer --split-work [--types bf16,f16] [--tokens 128,512] [--seconds S]
    /// </summary>
    private static int SplitWork(string[] args)
    {
        var types = Option(args, "--types", "bf16,f16").Split(',');
        var tokenCounts = Option(args, "--tokens", "128,512").Split(',').Select(int.Parse).ToArray();
        double seconds = double.Parse(Option(args, "--seconds", "3"));
        Console.WriteLine("| weight | tokens | previous split: ms of work per layer | even 32-row split | previous / even |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (string type in types)
        {
            var dtype = type.Equals("f16", StringComparison.OrdinalIgnoreCase) ? DType.F16 : DType.BF16;
            using var layer = new Layer(dtype);
            foreach (int tokens in tokenCounts) layer.MeasureSplits(tokens, seconds);
        }
        return 0;
    }

    private static string Option(string[] args, string name, string fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
    }

    private sealed class Layer : IDisposable
    {
        private const int Hidden = 896, KvSize = 128, Intermediate = 4864;
        private readonly DType _dtype;
        private readonly List<nint> _blocks = [];
        private readonly CpuLinear _q, _k, _v, _o, _gate, _up, _down;

        public Layer(DType dtype)
        {
            _dtype = dtype;
            var rng = new Random(1);
            _q = Linear("q", Hidden, Hidden, rng);
            _k = Linear("k", KvSize, Hidden, rng);
            _v = Linear("v", KvSize, Hidden, rng);
            _o = Linear("o", Hidden, Hidden, rng);
            _gate = Linear("gate", Intermediate, Hidden, rng);
            _up = Linear("up", Intermediate, Hidden, rng);
            _down = Linear("down", Hidden, Intermediate, rng);
        }

        private CpuLinear Linear(string name, int outFeatures, int inFeatures, Random rng)
        {
            long count = (long)outFeatures * inFeatures;
            var values = new float[count];
            for (long k = 0; k < count; k++) values[k] = (float)(rng.NextDouble() - 0.5) * 0.04f;
            var halves = (ushort*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(ushort)), 64);
            _blocks.Add((nint)halves);
            var span = new Span<ushort>(halves, checked((int)count));
            if (_dtype == DType.F16) HalfConvert.F32ToF16(values, span); else HalfConvert.F32ToBF16(values, span);
            return CpuLinear.Create(new TensorInfo(name, _dtype, [outFeatures, inFeatures], (byte*)halves, count * sizeof(ushort), "bench"));
        }

        public void Measure(int threads, int tokens, double seconds)
        {
            using var pool = new WorkerPool(threads);
            var job = new LinearJob(pool);
            var rng = new Random(2);
            float[] Buffer(int width, bool random)
            {
                var b = new float[tokens * width];
                if (random) for (int i = 0; i < b.Length; i++) b[i] = (float)(rng.NextDouble() - 0.5);
                return b;
            }
            float[] normed = Buffer(Hidden, true), q = Buffer(Hidden, false), k = Buffer(KvSize, false), v = Buffer(KvSize, false);
            float[] attention = Buffer(Hidden, true), projected = Buffer(Hidden, false), gate = Buffer(Intermediate, true), up = Buffer(Intermediate, false);
            var passes = new List<double>();
            fixed (float* pn = normed, pq = q, pk = k, pv = v, pa = attention, pp = projected, pg = gate, pu = up)
            {
                var total = Stopwatch.StartNew();
                for (int pass = 0; total.Elapsed.TotalSeconds < seconds; pass++)
                {
                    long start = Stopwatch.GetTimestamp();
                    job.Run(_q, pq, _k, pk, _v, pv, pn, tokens);
                    job.Run(_o, pa, tokens, pp);
                    job.Run(_gate, pg, _up, pu, pn, tokens);
                    job.Run(_down, pg, tokens, pp);
                    if (pass >= 5) passes.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds); // the first five tier up
                }
            }
            passes.Sort();
            double best = passes[0], median = passes[passes.Count / 2];
            Console.WriteLine($"| {_dtype} | {tokens} | {threads} | {best:F2} | {median:F2} | {tokens / (best * 24 / 1000):F0} | {passes.Count} |");
        }

        /// <summary>Row ranges of a layer at two threads: the previous split or the even 32-row one.</summary>
        private static List<(int Start, int End)> Items(int rows, bool previous)
        {
            var items = new List<(int, int)>();
            if (previous)
            {
                int size = Math.Max(16, ((rows + 7) / 8 + 15) / 16 * 16);
                for (int start = 0; start < rows; start += size) items.Add((start, Math.Min(start + size, rows)));
            }
            else
            {
                int granules = (rows + 31) / 32, count = Math.Min(granules, 8);
                for (int i = 0; i < count; i++) items.Add((i * granules / count * 32, Math.Min((i + 1) * granules / count * 32, rows)));
            }
            return items;
        }

        public void MeasureSplits(int tokens, double seconds)
        {
            var rng = new Random(3);
            var x = new float[tokens * Intermediate];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() - 0.5);
            var y = new float[tokens * Intermediate];
            var matrices = new[] { _q, _k, _v, _o, _gate, _up, _down };
            var process = Process.GetCurrentProcess();
            double[] best = [double.MaxValue, double.MaxValue];
            fixed (float* px = x, py = y)
            {
                for (int round = 0; round < 8; round++)
                    foreach (int which in round % 2 == 0 ? new[] { 0, 1 } : new[] { 1, 0 })
                    {
                        int passes = 0;
                        process.Refresh();
                        var start = process.TotalProcessorTime;
                        var wall = Stopwatch.StartNew();
                        while (wall.Elapsed.TotalSeconds < seconds / 16)
                        {
                            foreach (var m in matrices)
                                foreach (var (rowStart, rowEnd) in Items(m.OutFeatures, previous: which == 0))
                                    m.ComputeRows(px, m.InFeatures, tokens, py, m.OutFeatures, rowStart, rowEnd);
                            passes++;
                        }
                        process.Refresh();
                        if (round > 0) best[which] = Math.Min(best[which], (process.TotalProcessorTime - start).TotalMilliseconds / passes);
                    }
            }
            Console.WriteLine($"| {_dtype} | {tokens} | {best[0]:F2} | {best[1]:F2} | {best[0] / best[1]:F3} |");
        }

        public void Dispose()
        {
            foreach (nint block in _blocks) NativeMemory.AlignedFree((void*)block);
        }
    }
}
