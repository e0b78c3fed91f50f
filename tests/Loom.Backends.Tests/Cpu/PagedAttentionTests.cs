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
        const int numKvHeads = 2, kvHead = 1;
        int kvSize = numKvHeads * headDim;
        int numBlocks = (length + blockSize - 1) / blockSize + 3;
        using var cache = new PagedKvCache(numBlocks, blockSize, numLayers: 2, kvSize);
        // A non-contiguous, reversed block table that skips block 0.
        var blockTable = Enumerable.Range(0, (length + blockSize - 1) / blockSize).Select(b => numBlocks - 1 - b).ToArray();
        var keys = TestTensors.Random(length * kvSize, 1);
        var values = TestTensors.Random(length * kvSize, 2);
        for (int p = 0; p < length; p++)
        {
            int block = blockTable[p / blockSize];
            long slot = (long)(p % blockSize) * kvSize;
            keys.AsSpan(p * kvSize, kvSize).CopyTo(new Span<float>(cache.Keys(block, 1) + slot, kvSize));
            values.AsSpan(p * kvSize, kvSize).CopyTo(new Span<float>(cache.Values(block, 1) + slot, kvSize));
        }
        var query = TestTensors.Random(headDim, 3, 2f);
        var output = new float[headDim];
        float scale = 1f / MathF.Sqrt(headDim);
        int last = length - 1;

        PagedAttention.Attend(query, cache, layer: 1, blockTable, kvHead * headDim, first, last, scale, new float[length], output);

        var expected = NaiveAttention(query, keys, values, kvSize, kvHead * headDim, first, last, scale);
        for (int d = 0; d < headDim; d++) Assert.Equal(expected[d], output[d], 5);
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
        using var cache = new PagedKvCache(numBlocks: 3, blockSize: 2, numLayers: 2, kvSize: 4);
        for (int layer = 0; layer < 2; layer++)
            for (int i = 0; i < 8; i++)
            {
                cache.Keys(0, layer)[i] = layer * 100 + i;
                cache.Values(0, layer)[i] = -(layer * 100 + i);
            }

        cache.CopyBlock(0, 2);

        for (int layer = 0; layer < 2; layer++)
            for (int i = 0; i < 8; i++)
            {
                Assert.Equal(layer * 100 + i, cache.Keys(2, layer)[i]);
                Assert.Equal(-(layer * 100 + i), cache.Values(2, layer)[i]);
            }
    }
}
