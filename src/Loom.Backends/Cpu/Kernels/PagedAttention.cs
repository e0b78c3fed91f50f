using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// Attention of one query head of one token over its sequence's cached keys [first, last], read through the block
/// table. Two-pass softmax in fp32 (scores, then max-shifted exponentials); the result does not depend on which other
/// tokens or sequences share the batch. Head sizes that are a multiple of 8 take an AVX2 path with the dot products
/// and the weighted value sum inlined (per-key library calls cost more than the arithmetic at these sizes).
/// </summary>
internal static unsafe class PagedAttention
{
    /// <param name="query">[headDim] one head of one token (already rotated).</param>
    /// <param name="cache">Holds keys and values of positions [first, last] of the sequence.</param>
    /// <param name="kvOffset">kvHead * headDim: where this head's keys sit within a token's K row.</param>
    /// <param name="scores">Scratch of at least last - first + 1 floats.</param>
    /// <param name="output">[headDim] result.</param>
    public static void Attend(ReadOnlySpan<float> query, PagedKvCache cache, int layer, int[] blockTable, int kvOffset,
        int first, int last, float scale, Span<float> scores, Span<float> output)
    {
        int headDim = query.Length;
        scores = scores[..(last - first + 1)];
        bool fast = Avx2.IsSupported && Fma.IsSupported && headDim % 8 == 0;
        fixed (float* q = query)
        fixed (float* s = scores)
        fixed (float* o = output)
        {
            if (fast) ScoresAvx2(q, headDim, cache, layer, blockTable, kvOffset, first, last, scale, s);
            else ScoresPortable(query, cache, layer, blockTable, kvOffset, first, last, scale, scores);

            float max = TensorPrimitives.Max(scores);
            TensorPrimitives.Subtract(scores, max, scores);
            TensorPrimitives.Exp(scores, scores);
            float inverseSum = 1f / TensorPrimitives.Sum(scores);

            if (fast) WeightedValuesAvx2(s, headDim, cache, layer, blockTable, kvOffset, first, last, o);
            else WeightedValuesPortable(scores, cache, layer, blockTable, kvOffset, first, last, output);
            TensorPrimitives.Multiply(output, inverseSum, output);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long SlotOffset(PagedKvCache cache, int j) => (long)(j % cache.BlockSize) * cache.KvSize;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoresAvx2(float* q, int headDim, PagedKvCache cache, int layer, int[] blockTable, int kvOffset,
        int first, int last, float scale, float* scores)
    {
        int blockSize = cache.BlockSize;
        for (int j = first; j <= last; j++)
        {
            float* key = cache.Keys(blockTable[j / blockSize], layer) + SlotOffset(cache, j) + kvOffset;
            // Two chains halve the FMA latency the dot product waits on.
            Vector256<float> a0 = Vector256<float>.Zero, a1 = Vector256<float>.Zero;
            int d = 0;
            for (; d + 16 <= headDim; d += 16)
            {
                a0 = Fma.MultiplyAdd(Vector256.Load(q + d), Vector256.Load(key + d), a0);
                a1 = Fma.MultiplyAdd(Vector256.Load(q + d + 8), Vector256.Load(key + d + 8), a1);
            }
            if (d < headDim) a0 = Fma.MultiplyAdd(Vector256.Load(q + d), Vector256.Load(key + d), a0);
            scores[j - first] = Vector256.Sum(a0 + a1) * scale;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedValuesAvx2(float* weights, int headDim, PagedKvCache cache, int layer, int[] blockTable,
        int kvOffset, int first, int last, float* output)
    {
        int blockSize = cache.BlockSize;
        new Span<float>(output, headDim).Clear();
        for (int j = first; j <= last; j++)
        {
            float* value = cache.Values(blockTable[j / blockSize], layer) + SlotOffset(cache, j) + kvOffset;
            var w = Vector256.Create(weights[j - first]);
            for (int d = 0; d < headDim; d += 8)
                Vector256.Store(Fma.MultiplyAdd(w, Vector256.Load(value + d), Vector256.Load(output + d)), output + d);
        }
    }

    private static void ScoresPortable(ReadOnlySpan<float> query, PagedKvCache cache, int layer, int[] blockTable, int kvOffset,
        int first, int last, float scale, Span<float> scores)
    {
        int blockSize = cache.BlockSize;
        for (int j = first; j <= last; j++)
        {
            float* key = cache.Keys(blockTable[j / blockSize], layer) + SlotOffset(cache, j) + kvOffset;
            scores[j - first] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(key, query.Length)) * scale;
        }
    }

    private static void WeightedValuesPortable(ReadOnlySpan<float> weights, PagedKvCache cache, int layer, int[] blockTable,
        int kvOffset, int first, int last, Span<float> output)
    {
        int blockSize = cache.BlockSize;
        output.Clear();
        for (int j = first; j <= last; j++)
        {
            float* value = cache.Values(blockTable[j / blockSize], layer) + SlotOffset(cache, j) + kvOffset;
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(value, output.Length), weights[j - first], output, output);
        }
    }
}
