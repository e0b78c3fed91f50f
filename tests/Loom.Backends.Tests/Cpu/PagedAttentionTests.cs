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
    [InlineData(16, 0, 150, 64)] // several key chunks, the last one partial
    [InlineData(16, 3, 131, 72)] // chunks that start off a multiple of 4; 64 + 8 lanes of values
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

    /// <summary>
    /// A GQA group attended in one call gives each head the same bits as a call for that head alone (the AVX2 kernels,
    /// reachable on any machine), over lengths that end inside, on and past key-chunk boundaries.
    /// </summary>
    [Theory]
    [MemberData(nameof(GroupShapes))]
    public void AttendHeads_Grouped_SameBitsAsEachHeadAlone(int blockSize, int headDim)
    {
        foreach (var (dtype, length, first) in GroupCases())
            Assert.Equal(AttendGroup(blockSize, headDim, length, first, dtype, perHead: true, avx512: false),
                AttendGroup(blockSize, headDim, length, first, dtype, perHead: false, avx512: false));
    }

    /// <summary>The AVX-512 kernels give the AVX2 kernels' bits, grouped or alone.</summary>
    [SkippableTheory]
    [MemberData(nameof(GroupShapes))]
    public void AttendHeads_Avx512_SameBitsAsAvx2(int blockSize, int headDim)
    {
        Skip.If(!CpuIsa.Avx512, "this machine has no AVX-512");
        foreach (var (dtype, length, first) in GroupCases())
        {
            var avx2 = AttendGroup(blockSize, headDim, length, first, dtype, perHead: true, avx512: false);
            Assert.Equal(avx2, AttendGroup(blockSize, headDim, length, first, dtype, perHead: false, avx512: true));
            Assert.Equal(avx2, AttendGroup(blockSize, headDim, length, first, dtype, perHead: true, avx512: true));
        }
    }

    public static TheoryData<int, int> GroupShapes => new()
    {
        { 16, 64 }, { 16, 128 }, { 4, 24 }, { 8, 72 }, { 16, 80 },
        { 16, 12 }, // the portable path
    };

    private static IEnumerable<(KvCacheDType, int, int)> GroupCases()
    {
        foreach (var dtype in new[] { KvCacheDType.Float32, KvCacheDType.BFloat16 })
            foreach (int length in new[] { 1, 3, 4, 5, 33, 63, 64, 65, 130, 200 })
                foreach (int first in new[] { 0, 5 })
                    if (first < length) yield return (dtype, length, first);
    }

    /// <summary>Seven heads on KV head 1 of two; the outputs of every head, bit for bit.</summary>
    private static float[] AttendGroup(int blockSize, int headDim, int length, int first, KvCacheDType dtype, bool perHead, bool avx512)
    {
        const int numKvHeads = 2, kvHead = 1, heads = 7;
        int kvSize = numKvHeads * headDim;
        int numBlocks = (length + blockSize - 1) / blockSize + 2;
        using var cache = new PagedKvCache(numBlocks, blockSize, numLayers: 2, kvSize, dtype);
        var blockTable = Enumerable.Range(0, (length + blockSize - 1) / blockSize).Select(b => numBlocks - 1 - b).ToArray();
        var keys = TestTensors.Random(length * kvSize, 11);
        var values = TestTensors.Random(length * kvSize, 12);
        for (int p = 0; p < length; p++)
            cache.Write(blockTable[p / blockSize], 1, p % blockSize, keys.AsSpan(p * kvSize, kvSize), values.AsSpan(p * kvSize, kvSize));
        var query = TestTensors.Random(heads * headDim, 13, 2f);
        var output = new float[heads * headDim];
        float scale = 1f / MathF.Sqrt(headDim);
        int keysSeen = length - first;
        var scores = new float[heads * keysSeen];
        fixed (float* q = query)
        fixed (float* s = scores)
        fixed (float* o = output)
        {
            if (perHead)
                for (int h = 0; h < heads; h++)
                    PagedAttention.AttendHeads(q + h * headDim, 1, headDim, cache, 1, blockTable, kvHead * headDim, first, length - 1, scale, s, o + h * headDim, avx512);
            else
                PagedAttention.AttendHeads(q, heads, headDim, cache, 1, blockTable, kvHead * headDim, first, length - 1, scale, s, o, avx512);
        }
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
