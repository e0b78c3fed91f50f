using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Loom.Benchmarks;

/// <summary>
/// Memory read bandwidth as the decode loop sees it: every thread streams its share of a buffer far larger than the
/// caches and sums it with SIMD (reads only, like streaming weights). Best of several passes, each pass reading a
/// thread's share as one sequential stream and as two at once (its two halves side by side): one Zen 2 core read
/// ~12 GB/s from one stream and ~17 from two, so a one-stream figure would understate the bound there.
/// </summary>
internal static unsafe class DecodeBandwidth
{
    public static double MeasureReadGBps(int threads, long bytes = 1L << 30, int passes = 5)
    {
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            for (long offset = 0; offset < bytes; offset += 1 << 24)
                new Span<byte>(buffer + offset, (int)Math.Min(1 << 24, bytes - offset)).Fill(1);
            double best = 0;
            for (int pass = 0; pass < 2 * passes; pass++)
            {
                bool twoStreams = pass % 2 == 1;
                var watch = Stopwatch.StartNew();
                float total = 0;
                var sums = new float[threads];
                long share = bytes / threads / 64 * 64;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
                    t => sums[t] = twoStreams
                        ? SumTwoStreams((float*)(buffer + t * share), share / sizeof(float))
                        : Sum((float*)(buffer + t * share), share / sizeof(float)));
                foreach (var s in sums) total += s;
                double seconds = watch.Elapsed.TotalSeconds;
                if (total == 42f) Console.Write(""); // keep the sums alive
                best = Math.Max(best, share * threads / seconds / 1e9);
            }
            return best;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    private static float Sum(float* p, long count)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        long i = 0;
        for (; i + 32 <= count; i += 32)
        {
            a0 += Vector256.Load(p + i);
            a1 += Vector256.Load(p + i + 8);
            a2 += Vector256.Load(p + i + 16);
            a3 += Vector256.Load(p + i + 24);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3);
    }

    /// <summary>The same sum with the two halves read side by side (two sequential streams).</summary>
    private static float SumTwoStreams(float* p, long count)
    {
        long half = count / 2 / 16 * 16;   // at most 16 of the share's floats left unread: nothing at 1 GiB
        float* q = p + half;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (long i = 0; i < half; i += 16)
        {
            a0 += Vector256.Load(p + i);
            a1 += Vector256.Load(p + i + 8);
            a2 += Vector256.Load(q + i);
            a3 += Vector256.Load(q + i + 8);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3);
    }
}
