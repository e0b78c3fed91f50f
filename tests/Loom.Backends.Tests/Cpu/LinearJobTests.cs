using Loom.Backends.Cpu;

namespace Loom.Backends.Tests.Cpu;

/// <summary>How <see cref="LinearJob"/> splits its layers' rows into work items.</summary>
public unsafe class LinearJobTests
{
    /// <summary>A layer that computes nothing and records the row ranges it is asked for.</summary>
    private sealed class RecordingLinear(int outFeatures, int granularity) : CpuLinear("recording", 8, outFeatures, null)
    {
        public readonly List<(int Start, int End)> Ranges = [];

        public override long WeightBytes => 0;

        public override int RowGranularity => granularity;

        public override void ComputeRows(float* x, int xStride, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
        {
            lock (Ranges) Ranges.Add((rowStart, rowEnd));
        }
    }

    /// <summary>
    /// Every row is computed exactly once, each item is whole granules (but the last row's), and the items of one layer
    /// differ by one granule at most, the larger first (the pool hands items out in order, so the threads end level):
    /// 896 rows of 32-row granules at two threads are eight items of 4,4,4,4,3,3,3,3 granules, not seven of four
    /// (rounding one item's rows up to the granularity).
    /// </summary>
    [Theory]
    [InlineData(2, 896, 32)]
    [InlineData(2, 128, 32)]  // fewer granules than four items per thread: one granule each
    [InlineData(2, 4864, 32)]
    [InlineData(1, 896, 32)]
    [InlineData(2, 151936, 16)]
    [InlineData(3, 1001, 4)]  // a last granule cut short by the layer's end
    public void Items_CoverEveryRowOnce_InWholeGranules_EvenlySized(int threads, int outFeatures, int granularity)
    {
        using var pool = new WorkerPool(threads);
        var job = new LinearJob(pool);
        var a = new RecordingLinear(outFeatures, granularity);
        var b = new RecordingLinear(outFeatures / 2 + 3, granularity); // a second layer sharing the input, another size
        var x = new float[64 * 8];
        var ya = new float[64 * a.OutFeatures];
        var yb = new float[64 * b.OutFeatures];
        fixed (float* px = x, pa = ya, pb = yb)
            job.Run(a, pa, b, pb, px, 64);
        foreach (var layer in new[] { a, b })
        {
            var ranges = layer.Ranges.OrderBy(r => r.Start).ToList();
            int granules = (layer.OutFeatures + granularity - 1) / granularity;
            Assert.Equal(Math.Min(granules, threads * 4), ranges.Count);
            int next = 0;
            foreach (var (start, end) in ranges)
            {
                Assert.Equal(next, start);
                Assert.True(end > start, $"an empty item [{start}, {end})");
                Assert.True(start % granularity == 0 && (end % granularity == 0 || end == layer.OutFeatures), $"item [{start}, {end}) is not whole granules");
                next = end;
            }
            Assert.Equal(layer.OutFeatures, next);
            var sizes = ranges.Select(r => (r.End - r.Start + granularity - 1) / granularity).ToList();
            Assert.True(sizes.Max() - sizes.Min() <= 1, $"item sizes {string.Join(",", sizes)} granules differ by more than one");
            Assert.True(sizes.SequenceEqual(sizes.OrderByDescending(g => g)), $"item sizes {string.Join(",", sizes)}: the larger items do not come first");
        }
    }
}
