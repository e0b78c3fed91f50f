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

    /// <summary>
    /// Scores four keys at a time: four independent FMA chains, then one horizontal-add tree for all four sums
    /// (a per-key horizontal sum would cost as much as the dot product itself at head sizes of 64).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoresAvx2(float* q, int headDim, PagedKvCache cache, int layer, int[] blockTable, int kvOffset,
        int first, int last, float scale, float* scores)
    {
        int blockSize = cache.BlockSize;
        var scaleVector = Vector128.Create(scale);
        int j = first;
        for (; j + 3 <= last; j += 4)
        {
            float* k0 = KeyAt(cache, layer, blockTable, kvOffset, blockSize, j);
            float* k1 = KeyAt(cache, layer, blockTable, kvOffset, blockSize, j + 1);
            float* k2 = KeyAt(cache, layer, blockTable, kvOffset, blockSize, j + 2);
            float* k3 = KeyAt(cache, layer, blockTable, kvOffset, blockSize, j + 3);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int d = 0; d < headDim; d += 8)
            {
                var qv = Vector256.Load(q + d);
                a0 = Fma.MultiplyAdd(qv, Vector256.Load(k0 + d), a0);
                a1 = Fma.MultiplyAdd(qv, Vector256.Load(k1 + d), a1);
                a2 = Fma.MultiplyAdd(qv, Vector256.Load(k2 + d), a2);
                a3 = Fma.MultiplyAdd(qv, Vector256.Load(k3 + d), a3);
            }
            var h = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
            Vector128.Store((h.GetLower() + h.GetUpper()) * scaleVector, scores + (j - first));
        }
        for (; j <= last; j++)
        {
            float* key = KeyAt(cache, layer, blockTable, kvOffset, blockSize, j);
            var acc = Vector256<float>.Zero;
            for (int d = 0; d < headDim; d += 8)
                acc = Fma.MultiplyAdd(Vector256.Load(q + d), Vector256.Load(key + d), acc);
            scores[j - first] = Vector256.Sum(acc) * scale;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* KeyAt(PagedKvCache cache, int layer, int[] blockTable, int kvOffset, int blockSize, int j) =>
        cache.Keys(blockTable[j / blockSize], layer) + SlotOffset(cache, j) + kvOffset;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* ValueAt(PagedKvCache cache, int layer, int[] blockTable, int kvOffset, int blockSize, int j) =>
        cache.Values(blockTable[j / blockSize], layer) + SlotOffset(cache, j) + kvOffset;

    /// <summary>output = sum_j weights[j] * v_j, two values per pass so the output row is loaded and stored half as often.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedValuesAvx2(float* weights, int headDim, PagedKvCache cache, int layer, int[] blockTable,
        int kvOffset, int first, int last, float* output)
    {
        int blockSize = cache.BlockSize;
        new Span<float>(output, headDim).Clear();
        int j = first;
        for (; j + 1 <= last; j += 2)
        {
            float* v0 = ValueAt(cache, layer, blockTable, kvOffset, blockSize, j);
            float* v1 = ValueAt(cache, layer, blockTable, kvOffset, blockSize, j + 1);
            var w0 = Vector256.Create(weights[j - first]);
            var w1 = Vector256.Create(weights[j + 1 - first]);
            for (int d = 0; d < headDim; d += 8)
            {
                var o = Fma.MultiplyAdd(w0, Vector256.Load(v0 + d), Vector256.Load(output + d));
                Vector256.Store(Fma.MultiplyAdd(w1, Vector256.Load(v1 + d), o), output + d);
            }
        }
        if (j <= last)
        {
            float* value = ValueAt(cache, layer, blockTable, kvOffset, blockSize, j);
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
