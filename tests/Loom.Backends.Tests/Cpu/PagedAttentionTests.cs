using Loom.Backends.Cpu;
using Loom.Backends.Cpu.Kernels;

namespace Loom.Backends.Tests.Cpu;

public unsafe class PagedAttentionTests
{
    [Theory]
    [InlineData(1, 0, 20, 16)]
    [InlineData(4, 0, 37, 16)]
    [InlineData(16, 0, 37, 32)]
    [InlineData(4, 11, 37, 16)] // sliding window: only keys [first, last]
    [InlineData(4, 0, 23, 12)]  // head size not a multiple of 8: the portable path
    [InlineData(2, 5, 23, 24)]  // a multiple of 8 but not of 16
    public void Attend_OverShuffledBlocks_MatchesNaiveSoftmaxAttention(int blockSize, int first, int length, int headDim)
    {
        foreach (var dtype in new[] { KvCacheDType.Float32, KvCacheDType.BFloat16 })
            AttendMatchesNaive(blockSize, first, length, headDim, dtype);
    }

    /// <summary>The naive reference reads the cache back (bf16-rounded), so both types must agree to float rounding.</summary>
    private static void AttendMatchesNaive(int blockSize, int first, int length, int headDim, KvCacheDType dtype)
    {
        const int numKvHeads = 2, kvHead = 1;
        int kvSize = numKvHeads * headDim;
        int numBlocks = (length + blockSize - 1) / blockSize + 3;
        using var cache = new PagedKvCache(numBlocks, blockSize, numLayers: 2, kvSize, dtype);
        // A non-contiguous, reversed block table that skips block 0.
        var blockTable = Enumerable.Range(0, (length + blockSize - 1) / blockSize).Select(b => numBlocks - 1 - b).ToArray();
        var keys = TestTensors.Random(length * kvSize, 1);
        var values = TestTensors.Random(length * kvSize, 2);
        for (int p = 0; p < length; p++)
        {
            int block = blockTable[p / blockSize];
            cache.Write(block, 1, p % blockSize, keys.AsSpan(p * kvSize, kvSize), values.AsSpan(p * kvSize, kvSize));
            cache.Read(block, 1, p % blockSize, keys.AsSpan(p * kvSize, kvSize), values.AsSpan(p * kvSize, kvSize));
        }
        var query = TestTensors.Random(headDim, 3, 2f);
        var output = new float[headDim];
        float scale = 1f / MathF.Sqrt(headDim);
        int last = length - 1;

        PagedAttention.Attend(query, cache, layer: 1, blockTable, kvHead * headDim, first, last, scale, new float[length], output);

        var expected = NaiveAttention(query, keys, values, kvSize, kvHead * headDim, first, last, scale);
        for (int d = 0; d < headDim; d++) Assert.Equal(expected[d], output[d], 1e-5); // a tolerance, not decimal places: rounding boundaries
    }

    private static double[] NaiveAttention(float[] q, float[] keys, float[] values, int kvSize, int offset, int first, int last, double scale)
    {
        var scores = new double[last - first + 1];
        for (int j = first; j <= last; j++)
        {
            double s = 0;
            for (int d = 0; d < q.Length; d++) s += (double)q[d] * keys[j * kvSize + offset + d];
            scores[j - first] = s * scale;
        }
        double max = scores.Max();
        double sum = scores.Sum(s => Math.Exp(s - max));
        var output = new double[q.Length];
        for (int j = first; j <= last; j++)
            for (int d = 0; d < q.Length; d++)
                output[d] += Math.Exp(scores[j - first] - max) / sum * values[j * kvSize + offset + d];
        return output;
    }

    [Fact]
    public void CopyBlock_CopiesEveryLayer()
    {
        foreach (var dtype in new[] { KvCacheDType.Float32, KvCacheDType.BFloat16 })
        {
            using var cache = new PagedKvCache(numBlocks: 3, blockSize: 2, numLayers: 2, kvSize: 4, dtype);
            for (int layer = 0; layer < 2; layer++)
                for (int slot = 0; slot < 2; slot++)
                {
                    float[] key = [.. Enumerable.Range(0, 4).Select(i => (float)(layer * 100 + slot * 4 + i))];
                    cache.Write(0, layer, slot, key, key.Select(k => -k).ToArray());
                }

            cache.CopyBlock(0, 2);

            var k = new float[4];
            var v = new float[4];
            for (int layer = 0; layer < 2; layer++)
                for (int slot = 0; slot < 2; slot++)
                {
                    cache.Read(2, layer, slot, k, v);
                    Assert.Equal(Enumerable.Range(0, 4).Select(i => (float)(layer * 100 + slot * 4 + i)), k); // small integers: exact in bf16
                    Assert.Equal(k.Select(x => -x), v);
                }
        }
    }
}
