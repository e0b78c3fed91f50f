using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// Attention of one query head of one token over its sequence's cached keys [first, last], read through the block
/// table, from an fp32 or bf16 cache (bf16 elements are widened in registers). Two-pass softmax in fp32 (scores,
/// then max-shifted exponentials); the result does not depend on which other tokens or sequences share the batch. Head sizes that are a multiple of 8 take an AVX2 path with the dot products
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
        if (cache.DType == KvCacheDType.BFloat16)
            Attend<Bf16Element>(query, cache, layer, blockTable, kvOffset, first, last, scale, scores, output);
        else
            Attend<F32Element>(query, cache, layer, blockTable, kvOffset, first, last, scale, scores, output);
    }

    private static void Attend<T>(ReadOnlySpan<float> query, PagedKvCache cache, int layer, int[] blockTable, int kvOffset,
        int first, int last, float scale, Span<float> scores, Span<float> output) where T : struct, IKvElement
    {
        int headDim = query.Length;
        scores = scores[..(last - first + 1)];
        bool fast = Avx2.IsSupported && Fma.IsSupported && headDim % 8 == 0;
        fixed (float* q = query)
        fixed (float* s = scores)
        fixed (float* o = output)
        {
            if (fast) ScoresAvx2<T>(q, headDim, cache, layer, blockTable, kvOffset, first, last, scale, s);
            else ScoresPortable<T>(query, cache, layer, blockTable, kvOffset, first, last, scale, scores);

            float max = TensorPrimitives.Max(scores);
            TensorPrimitives.Subtract(scores, max, scores);
            TensorPrimitives.Exp(scores, scores);
            float inverseSum = 1f / TensorPrimitives.Sum(scores);

            if (fast) WeightedValuesAvx2<T>(s, headDim, cache, layer, blockTable, kvOffset, first, last, o);
            else WeightedValuesPortable<T>(scores, cache, layer, blockTable, kvOffset, first, last, output);
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
    private static void ScoresAvx2<T>(float* q, int headDim, PagedKvCache cache, int layer, int[] blockTable, int kvOffset,
        int first, int last, float scale, float* scores) where T : struct, IKvElement
    {
        int blockSize = cache.BlockSize;
        var scaleVector = Vector128.Create(scale);
        int j = first;
        for (; j + 3 <= last; j += 4)
        {
            byte* k0 = KeyAt<T>(cache, layer, blockTable, kvOffset, blockSize, j);
            byte* k1 = KeyAt<T>(cache, layer, blockTable, kvOffset, blockSize, j + 1);
            byte* k2 = KeyAt<T>(cache, layer, blockTable, kvOffset, blockSize, j + 2);
            byte* k3 = KeyAt<T>(cache, layer, blockTable, kvOffset, blockSize, j + 3);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int d = 0; d < headDim; d += 8)
            {
                var qv = Vector256.Load(q + d);
                a0 = Fma.MultiplyAdd(qv, T.Load8(k0 + d * T.Size), a0);
                a1 = Fma.MultiplyAdd(qv, T.Load8(k1 + d * T.Size), a1);
                a2 = Fma.MultiplyAdd(qv, T.Load8(k2 + d * T.Size), a2);
                a3 = Fma.MultiplyAdd(qv, T.Load8(k3 + d * T.Size), a3);
            }
            var h = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
            Vector128.Store((h.GetLower() + h.GetUpper()) * scaleVector, scores + (j - first));
        }
        for (; j <= last; j++)
        {
            byte* key = KeyAt<T>(cache, layer, blockTable, kvOffset, blockSize, j);
            var acc = Vector256<float>.Zero;
            for (int d = 0; d < headDim; d += 8)
                acc = Fma.MultiplyAdd(Vector256.Load(q + d), T.Load8(key + d * T.Size), acc);
            scores[j - first] = Vector256.Sum(acc) * scale;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* KeyAt<T>(PagedKvCache cache, int layer, int[] blockTable, int kvOffset, int blockSize, int j)
        where T : struct, IKvElement =>
        cache.Keys(blockTable[j / blockSize], layer) + (SlotOffset(cache, j) + kvOffset) * T.Size;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* ValueAt<T>(PagedKvCache cache, int layer, int[] blockTable, int kvOffset, int blockSize, int j)
        where T : struct, IKvElement =>
        cache.Values(blockTable[j / blockSize], layer) + (SlotOffset(cache, j) + kvOffset) * T.Size;

    /// <summary>output = sum_j weights[j] * v_j, two values per pass so the output row is loaded and stored half as often.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedValuesAvx2<T>(float* weights, int headDim, PagedKvCache cache, int layer, int[] blockTable,
        int kvOffset, int first, int last, float* output) where T : struct, IKvElement
    {
        int blockSize = cache.BlockSize;
        new Span<float>(output, headDim).Clear();
        int j = first;
        for (; j + 1 <= last; j += 2)
        {
            byte* v0 = ValueAt<T>(cache, layer, blockTable, kvOffset, blockSize, j);
            byte* v1 = ValueAt<T>(cache, layer, blockTable, kvOffset, blockSize, j + 1);
            var w0 = Vector256.Create(weights[j - first]);
            var w1 = Vector256.Create(weights[j + 1 - first]);
            for (int d = 0; d < headDim; d += 8)
            {
                var o = Fma.MultiplyAdd(w0, T.Load8(v0 + d * T.Size), Vector256.Load(output + d));
                Vector256.Store(Fma.MultiplyAdd(w1, T.Load8(v1 + d * T.Size), o), output + d);
            }
        }
        if (j <= last)
        {
            byte* value = ValueAt<T>(cache, layer, blockTable, kvOffset, blockSize, j);
            var w = Vector256.Create(weights[j - first]);
            for (int d = 0; d < headDim; d += 8)
                Vector256.Store(Fma.MultiplyAdd(w, T.Load8(value + d * T.Size), Vector256.Load(output + d)), output + d);
        }
    }

    /// <summary>Portable path: each row is converted to floats (on the stack: head sizes are small) before the dot product.</summary>
    private static void ScoresPortable<T>(ReadOnlySpan<float> query, PagedKvCache cache, int layer, int[] blockTable, int kvOffset,
        int first, int last, float scale, Span<float> scores) where T : struct, IKvElement
    {
        int blockSize = cache.BlockSize;
        Span<float> key = stackalloc float[query.Length];
        for (int j = first; j <= last; j++)
        {
            T.LoadRow(KeyAt<T>(cache, layer, blockTable, kvOffset, blockSize, j), key);
            scores[j - first] = TensorPrimitives.Dot(query, key) * scale;
        }
    }

    private static void WeightedValuesPortable<T>(ReadOnlySpan<float> weights, PagedKvCache cache, int layer, int[] blockTable,
        int kvOffset, int first, int last, Span<float> output) where T : struct, IKvElement
    {
        int blockSize = cache.BlockSize;
        Span<float> value = stackalloc float[output.Length];
        output.Clear();
        for (int j = first; j <= last; j++)
        {
            T.LoadRow(ValueAt<T>(cache, layer, blockTable, kvOffset, blockSize, j), value);
            TensorPrimitives.MultiplyAdd(value, weights[j - first], output, output);
        }
    }
}
