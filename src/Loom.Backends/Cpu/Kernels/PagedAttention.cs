using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// Attention of one token's query heads that share a KV head (a GQA group, or part of one) over its sequence's cached
/// keys [first, last], read through the block table, from an fp32 or bf16 cache (bf16 elements are widened in
/// registers). Two-pass softmax in fp32 (scores, then max-shifted exponentials); the result does not depend on which
/// other tokens or sequences share the batch, nor on how many heads one call takes: each head's arithmetic is the same
/// sequence of operations in every case. The heads of one call walk the keys in chunks of <see cref="KeyChunk"/>, so a
/// chunk's K (then V) rows are read from memory once and from L1 by the other heads, and the slot addresses are worked
/// out once per chunk instead of once per head and key. Within a chunk the heads go two at a time, so each K or V vector
/// loaded feeds two heads' multiply-adds.
/// Head sizes that are a multiple of 8 take a vector path with the dot products and the weighted value sum inlined
/// (per-key library calls cost more than the arithmetic at these sizes). Its AVX-512 variant gives the same bits as the
/// AVX2 one: the scores put two keys' 8-lane chains in one 512-bit register (the per-lane order is unchanged), and the
/// weighted sum is per lane whatever the width.
/// </summary>
internal static unsafe class PagedAttention
{
    /// <summary>Keys per pass over the heads: 64 fp32 rows of head size 64 are 16 KiB, which stays in L1 for the next head.</summary>
    internal const int KeyChunk = 64;

    /// <param name="query">[headDim] one head of one token (already rotated).</param>
    /// <param name="cache">Holds keys and values of positions [first, last] of the sequence.</param>
    /// <param name="kvOffset">kvHead * headDim: where this head's keys sit within a token's K row.</param>
    /// <param name="scores">Scratch of at least last - first + 1 floats.</param>
    /// <param name="output">[headDim] result.</param>
    public static void Attend(ReadOnlySpan<float> query, PagedKvCache cache, int layer, int[] blockTable, int kvOffset,
        int first, int last, float scale, Span<float> scores, Span<float> output)
    {
        if (scores.Length < last - first + 1) throw new ArgumentException("The score scratch is shorter than the key range.", nameof(scores));
        if (output.Length < query.Length) throw new ArgumentException("The output is shorter than the query.", nameof(output));
        fixed (float* q = query)
        fixed (float* s = scores)
        fixed (float* o = output)
            AttendHeads(q, 1, query.Length, cache, layer, blockTable, kvOffset, first, last, scale, s, o, CpuIsa.Avx512);
    }

    /// <summary>
    /// <paramref name="numHeads"/> query heads of one token that read the same KV head, laid out one after another
    /// ([numHeads, headDim]) in <paramref name="query"/> and <paramref name="output"/>; each head's output has the same
    /// bits as a call for that head alone.
    /// </summary>
    /// <param name="scores">Scratch of numHeads * (last - first + 1) floats.</param>
    /// <param name="avx512">Use the 512-bit kernels (same bits; false keeps the AVX2 ones reachable from tests).</param>
    public static void AttendHeads(float* query, int numHeads, int headDim, PagedKvCache cache, int layer, int[] blockTable,
        int kvOffset, int first, int last, float scale, float* scores, float* output, bool avx512)
    {
        if (cache.DType == KvCacheDType.BFloat16)
            AttendHeads<Bf16Element>(query, numHeads, headDim, cache, layer, blockTable, kvOffset, first, last, scale, scores, output, avx512);
        else
            AttendHeads<F32Element>(query, numHeads, headDim, cache, layer, blockTable, kvOffset, first, last, scale, scores, output, avx512);
    }

    private static void AttendHeads<T>(float* query, int numHeads, int headDim, PagedKvCache cache, int layer, int[] blockTable,
        int kvOffset, int first, int last, float scale, float* scores, float* output, bool avx512) where T : struct, IKvElement
    {
        int length = last - first + 1;
        if (!(Avx2.IsSupported && Fma.IsSupported && headDim % 8 == 0))
        {
            for (int h = 0; h < numHeads; h++)
                AttendPortable<T>(new ReadOnlySpan<float>(query + h * headDim, headDim), cache, layer, blockTable, kvOffset, first, last,
                    scale, new Span<float>(scores + (long)h * length, length), new Span<float>(output + h * headDim, headDim));
            return;
        }
        avx512 &= CpuIsa.Avx512;
        byte** rows = stackalloc byte*[KeyChunk];
        for (int c = first; c <= last; c += KeyChunk)
        {
            int count = Math.Min(KeyChunk, last - c + 1);
            RowAddresses<T>(values: false, cache, layer, blockTable, kvOffset, c, count, rows);
            // Chunks start at first + a multiple of 4, so the four-key groups are those of one pass over [first, last].
            int h = 0;
            for (; h + 1 < numHeads; h += 2)
            {
                float* s = scores + (long)h * length + (c - first);
                if (avx512) ScoresAvx512Pair<T>(query + h * headDim, headDim, rows, count, scale, s, s + length);
                else ScoresAvx2Pair<T>(query + h * headDim, headDim, rows, count, scale, s, s + length);
            }
            if (h < numHeads)
            {
                float* s = scores + (long)h * length + (c - first);
                if (avx512) ScoresAvx512<T>(query + h * headDim, headDim, rows, count, scale, s);
                else ScoresAvx2<T>(query + h * headDim, headDim, rows, count, scale, s);
            }
        }

        Span<float> inverseSums = stackalloc float[numHeads];
        for (int h = 0; h < numHeads; h++)
        {
            var row = new Span<float>(scores + (long)h * length, length);
            float max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, row);
            TensorPrimitives.Exp(row, row);
            inverseSums[h] = 1f / TensorPrimitives.Sum(row);
        }

        for (int c = first; c <= last; c += KeyChunk)
        {
            int count = Math.Min(KeyChunk, last - c + 1);
            RowAddresses<T>(values: true, cache, layer, blockTable, kvOffset, c, count, rows);
            int h = 0;
            for (; h + 1 < numHeads; h += 2)
            {
                float* w = scores + (long)h * length + (c - first);
                if (avx512) WeightedValuesAvx512Pair<T>(w, w + length, headDim, rows, count, c == first, output + h * headDim);
                else WeightedValuesAvx2Pair<T>(w, w + length, headDim, rows, count, c == first, output + h * headDim);
            }
            if (h < numHeads)
            {
                float* w = scores + (long)h * length + (c - first);
                if (avx512) WeightedValuesAvx512<T>(w, headDim, rows, count, c == first, output + h * headDim);
                else WeightedValuesAvx2<T>(w, headDim, rows, count, c == first, output + h * headDim);
            }
        }
        for (int h = 0; h < numHeads; h++)
            TensorPrimitives.Multiply(new Span<float>(output + h * headDim, headDim), inverseSums[h], new Span<float>(output + h * headDim, headDim));
    }

    /// <summary>
    /// The addresses of this KV head's K (or V) rows at positions [start, start + count): one block-table lookup and
    /// division per chunk, then slot by slot.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowAddresses<T>(bool values, PagedKvCache cache, int layer, int[] blockTable, int kvOffset,
        int start, int count, byte** rows) where T : struct, IKvElement
    {
        int blockSize = cache.BlockSize;
        long rowBytes = (long)cache.KvSize * T.Size;
        int block = start / blockSize, slot = start % blockSize;
        byte* slot0 = Rows(values, cache, blockTable[block], layer) + (long)kvOffset * T.Size;
        for (int i = 0; i < count; i++)
        {
            rows[i] = slot0 + slot * rowBytes;
            if (++slot == blockSize && i + 1 < count)
            {
                slot = 0;
                slot0 = Rows(values, cache, blockTable[++block], layer) + (long)kvOffset * T.Size;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* Rows(bool values, PagedKvCache cache, int block, int layer) =>
        values ? cache.Values(block, layer) : cache.Keys(block, layer);

    /// <summary>
    /// Scores four keys at a time: four independent FMA chains, then one horizontal-add tree for all four sums
    /// (a per-key horizontal sum would cost as much as the dot product itself at head sizes of 64); the last
    /// count % 4 keys one at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoresAvx2<T>(float* q, int headDim, byte** keys, int count, float scale, float* scores)
        where T : struct, IKvElement
    {
        var scaleVector = Vector128.Create(scale);
        int i = 0;
        for (; i + 3 < count; i += 4)
        {
            byte* k0 = keys[i], k1 = keys[i + 1], k2 = keys[i + 2], k3 = keys[i + 3];
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int d = 0; d < headDim; d += 8)
            {
                var qv = Vector256.Load(q + d);
                a0 = Fma.MultiplyAdd(qv, T.Load8(k0 + d * T.Size), a0);
                a1 = Fma.MultiplyAdd(qv, T.Load8(k1 + d * T.Size), a1);
                a2 = Fma.MultiplyAdd(qv, T.Load8(k2 + d * T.Size), a2);
                a3 = Fma.MultiplyAdd(qv, T.Load8(k3 + d * T.Size), a3);
            }
            Vector128.Store(SumFour(a0, a1, a2, a3) * scaleVector, scores + i);
        }
        for (; i < count; i++) scores[i] = ScoreOne<T>(q, headDim, keys[i]) * scale;
    }

    /// <summary>
    /// <see cref="ScoresAvx2{T}"/> with keys i and i + 1 in the two halves of one 512-bit register (and i + 2, i + 3
    /// in another): the same 8-lane chains and the same reduction tree, so the same bits, in half the multiply-adds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoresAvx512<T>(float* q, int headDim, byte** keys, int count, float scale, float* scores)
        where T : struct, IKvElement
    {
        var scaleVector = Vector128.Create(scale);
        int i = 0;
        for (; i + 3 < count; i += 4)
        {
            byte* k0 = keys[i], k1 = keys[i + 1], k2 = keys[i + 2], k3 = keys[i + 3];
            Vector512<float> a01 = default, a23 = default;
            for (int d = 0; d < headDim; d += 8)
            {
                var half = Vector256.Load(q + d);
                var qv = Vector512.Create(half, half);
                a01 = Avx512F.FusedMultiplyAdd(qv, T.Load8Pair(k0 + d * T.Size, k1 + d * T.Size), a01);
                a23 = Avx512F.FusedMultiplyAdd(qv, T.Load8Pair(k2 + d * T.Size, k3 + d * T.Size), a23);
            }
            Vector128.Store(SumFour(a01.GetLower(), a01.GetUpper(), a23.GetLower(), a23.GetUpper()) * scaleVector, scores + i);
        }
        for (; i < count; i++) scores[i] = ScoreOne<T>(q, headDim, keys[i]) * scale;
    }

    /// <summary>
    /// <see cref="ScoresAvx2{T}"/> for two heads (queries q and q + headDim) at once: each key vector loaded feeds
    /// both heads' chains, halving the loads per multiply-add; each head's chains and sums are unchanged.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoresAvx2Pair<T>(float* q, int headDim, byte** keys, int count, float scale, float* scores0, float* scores1)
        where T : struct, IKvElement
    {
        var scaleVector = Vector128.Create(scale);
        float* q1 = q + headDim;
        int i = 0;
        for (; i + 3 < count; i += 4)
        {
            byte* k0 = keys[i], k1 = keys[i + 1], k2 = keys[i + 2], k3 = keys[i + 3];
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
            for (int d = 0; d < headDim; d += 8)
            {
                var qa = Vector256.Load(q + d);
                var qb = Vector256.Load(q1 + d);
                var k = T.Load8(k0 + d * T.Size);
                a0 = Fma.MultiplyAdd(qa, k, a0);
                b0 = Fma.MultiplyAdd(qb, k, b0);
                k = T.Load8(k1 + d * T.Size);
                a1 = Fma.MultiplyAdd(qa, k, a1);
                b1 = Fma.MultiplyAdd(qb, k, b1);
                k = T.Load8(k2 + d * T.Size);
                a2 = Fma.MultiplyAdd(qa, k, a2);
                b2 = Fma.MultiplyAdd(qb, k, b2);
                k = T.Load8(k3 + d * T.Size);
                a3 = Fma.MultiplyAdd(qa, k, a3);
                b3 = Fma.MultiplyAdd(qb, k, b3);
            }
            Vector128.Store(SumFour(a0, a1, a2, a3) * scaleVector, scores0 + i);
            Vector128.Store(SumFour(b0, b1, b2, b3) * scaleVector, scores1 + i);
        }
        for (; i < count; i++)
        {
            scores0[i] = ScoreOne<T>(q, headDim, keys[i]) * scale;
            scores1[i] = ScoreOne<T>(q1, headDim, keys[i]) * scale;
        }
    }

    /// <summary><see cref="ScoresAvx512{T}"/> for two heads at once, as <see cref="ScoresAvx2Pair{T}"/>: the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoresAvx512Pair<T>(float* q, int headDim, byte** keys, int count, float scale, float* scores0, float* scores1)
        where T : struct, IKvElement
    {
        var scaleVector = Vector128.Create(scale);
        float* q1 = q + headDim;
        int i = 0;
        for (; i + 3 < count; i += 4)
        {
            byte* k0 = keys[i], k1 = keys[i + 1], k2 = keys[i + 2], k3 = keys[i + 3];
            Vector512<float> a01 = default, a23 = default, b01 = default, b23 = default;
            for (int d = 0; d < headDim; d += 8)
            {
                var half = Vector256.Load(q + d);
                var qa = Vector512.Create(half, half);
                half = Vector256.Load(q1 + d);
                var qb = Vector512.Create(half, half);
                var k = T.Load8Pair(k0 + d * T.Size, k1 + d * T.Size);
                a01 = Avx512F.FusedMultiplyAdd(qa, k, a01);
                b01 = Avx512F.FusedMultiplyAdd(qb, k, b01);
                k = T.Load8Pair(k2 + d * T.Size, k3 + d * T.Size);
                a23 = Avx512F.FusedMultiplyAdd(qa, k, a23);
                b23 = Avx512F.FusedMultiplyAdd(qb, k, b23);
            }
            Vector128.Store(SumFour(a01.GetLower(), a01.GetUpper(), a23.GetLower(), a23.GetUpper()) * scaleVector, scores0 + i);
            Vector128.Store(SumFour(b01.GetLower(), b01.GetUpper(), b23.GetLower(), b23.GetUpper()) * scaleVector, scores1 + i);
        }
        for (; i < count; i++)
        {
            scores0[i] = ScoreOne<T>(q, headDim, keys[i]) * scale;
            scores1[i] = ScoreOne<T>(q1, headDim, keys[i]) * scale;
        }
    }

    /// <summary>The four horizontal sums [sum a0, sum a1, sum a2, sum a3], in one fixed tree.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> SumFour(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3)
    {
        var h = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        return h.GetLower() + h.GetUpper();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ScoreOne<T>(float* q, int headDim, byte* key) where T : struct, IKvElement
    {
        var acc = Vector256<float>.Zero;
        for (int d = 0; d < headDim; d += 8)
            acc = Fma.MultiplyAdd(Vector256.Load(q + d), T.Load8(key + d * T.Size), acc);
        return Vector256.Sum(acc);
    }

    /// <summary>
    /// output (+)= sum_i weights[i] * v_i over one chunk, 32 output lanes at a time held in registers across the
    /// chunk's keys; each lane is one multiply-add chain in key order. <paramref name="start"/>: the chunk is the
    /// first, so the sum starts from zero instead of from <paramref name="output"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedValuesAvx2<T>(float* weights, int headDim, byte** values, int count, bool start, float* output)
        where T : struct, IKvElement
    {
        int d = 0;
        for (; d + 32 <= headDim; d += 32)
        {
            float* o = output + d;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            if (!start)
            {
                a0 = Vector256.Load(o); a1 = Vector256.Load(o + 8); a2 = Vector256.Load(o + 16); a3 = Vector256.Load(o + 24);
            }
            for (int i = 0; i < count; i++)
            {
                var w = Vector256.Create(weights[i]);
                byte* v = values[i] + d * T.Size;
                a0 = Fma.MultiplyAdd(w, T.Load8(v), a0);
                a1 = Fma.MultiplyAdd(w, T.Load8(v + 8 * T.Size), a1);
                a2 = Fma.MultiplyAdd(w, T.Load8(v + 16 * T.Size), a2);
                a3 = Fma.MultiplyAdd(w, T.Load8(v + 24 * T.Size), a3);
            }
            Vector256.Store(a0, o); Vector256.Store(a1, o + 8); Vector256.Store(a2, o + 16); Vector256.Store(a3, o + 24);
        }
        for (; d < headDim; d += 8)
        {
            var a = start ? Vector256<float>.Zero : Vector256.Load(output + d);
            for (int i = 0; i < count; i++) a = Fma.MultiplyAdd(Vector256.Create(weights[i]), T.Load8(values[i] + d * T.Size), a);
            Vector256.Store(a, output + d);
        }
    }

    /// <summary><see cref="WeightedValuesAvx2{T}"/> 64 lanes at a time: the same chain per lane, so the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedValuesAvx512<T>(float* weights, int headDim, byte** values, int count, bool start, float* output)
        where T : struct, IKvElement
    {
        int d = 0;
        for (; d + 64 <= headDim; d += 64)
        {
            float* o = output + d;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            if (!start)
            {
                a0 = Vector512.Load(o); a1 = Vector512.Load(o + 16); a2 = Vector512.Load(o + 32); a3 = Vector512.Load(o + 48);
            }
            for (int i = 0; i < count; i++)
            {
                var w = Vector512.Create(weights[i]);
                byte* v = values[i] + d * T.Size;
                a0 = Avx512F.FusedMultiplyAdd(w, T.Load16(v), a0);
                a1 = Avx512F.FusedMultiplyAdd(w, T.Load16(v + 16 * T.Size), a1);
                a2 = Avx512F.FusedMultiplyAdd(w, T.Load16(v + 32 * T.Size), a2);
                a3 = Avx512F.FusedMultiplyAdd(w, T.Load16(v + 48 * T.Size), a3);
            }
            Vector512.Store(a0, o); Vector512.Store(a1, o + 16); Vector512.Store(a2, o + 32); Vector512.Store(a3, o + 48);
        }
        for (; d + 16 <= headDim; d += 16)
        {
            var a = start ? Vector512<float>.Zero : Vector512.Load(output + d);
            for (int i = 0; i < count; i++) a = Avx512F.FusedMultiplyAdd(Vector512.Create(weights[i]), T.Load16(values[i] + d * T.Size), a);
            Vector512.Store(a, output + d);
        }
        for (; d < headDim; d += 8)
        {
            var a = start ? Vector256<float>.Zero : Vector256.Load(output + d);
            for (int i = 0; i < count; i++) a = Fma.MultiplyAdd(Vector256.Create(weights[i]), T.Load8(values[i] + d * T.Size), a);
            Vector256.Store(a, output + d);
        }
    }

    /// <summary>
    /// <see cref="WeightedValuesAvx2{T}"/> for two heads (outputs output and output + headDim) at once: each value
    /// vector loaded feeds both heads' sums; each lane's chain is unchanged.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedValuesAvx2Pair<T>(float* weights0, float* weights1, int headDim, byte** values, int count, bool start,
        float* output) where T : struct, IKvElement
    {
        float* output1 = output + headDim;
        int d = 0;
        for (; d + 16 <= headDim; d += 16)
        {
            float* o = output + d, p = output1 + d;
            Vector256<float> a0 = default, a1 = default, b0 = default, b1 = default;
            if (!start)
            {
                a0 = Vector256.Load(o); a1 = Vector256.Load(o + 8); b0 = Vector256.Load(p); b1 = Vector256.Load(p + 8);
            }
            for (int i = 0; i < count; i++)
            {
                var wa = Vector256.Create(weights0[i]);
                var wb = Vector256.Create(weights1[i]);
                byte* v = values[i] + d * T.Size;
                var x = T.Load8(v);
                a0 = Fma.MultiplyAdd(wa, x, a0);
                b0 = Fma.MultiplyAdd(wb, x, b0);
                x = T.Load8(v + 8 * T.Size);
                a1 = Fma.MultiplyAdd(wa, x, a1);
                b1 = Fma.MultiplyAdd(wb, x, b1);
            }
            Vector256.Store(a0, o); Vector256.Store(a1, o + 8); Vector256.Store(b0, p); Vector256.Store(b1, p + 8);
        }
        for (; d < headDim; d += 8)
        {
            var a = start ? Vector256<float>.Zero : Vector256.Load(output + d);
            var b = start ? Vector256<float>.Zero : Vector256.Load(output1 + d);
            for (int i = 0; i < count; i++)
            {
                var x = T.Load8(values[i] + d * T.Size);
                a = Fma.MultiplyAdd(Vector256.Create(weights0[i]), x, a);
                b = Fma.MultiplyAdd(Vector256.Create(weights1[i]), x, b);
            }
            Vector256.Store(a, output + d);
            Vector256.Store(b, output1 + d);
        }
    }

    /// <summary><see cref="WeightedValuesAvx512{T}"/> for two heads at once, as <see cref="WeightedValuesAvx2Pair{T}"/>: the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedValuesAvx512Pair<T>(float* weights0, float* weights1, int headDim, byte** values, int count, bool start,
        float* output) where T : struct, IKvElement
    {
        float* output1 = output + headDim;
        int d = 0;
        for (; d + 32 <= headDim; d += 32)
        {
            float* o = output + d, p = output1 + d;
            Vector512<float> a0 = default, a1 = default, b0 = default, b1 = default;
            if (!start)
            {
                a0 = Vector512.Load(o); a1 = Vector512.Load(o + 16); b0 = Vector512.Load(p); b1 = Vector512.Load(p + 16);
            }
            for (int i = 0; i < count; i++)
            {
                var wa = Vector512.Create(weights0[i]);
                var wb = Vector512.Create(weights1[i]);
                byte* v = values[i] + d * T.Size;
                var x = T.Load16(v);
                a0 = Avx512F.FusedMultiplyAdd(wa, x, a0);
                b0 = Avx512F.FusedMultiplyAdd(wb, x, b0);
                x = T.Load16(v + 16 * T.Size);
                a1 = Avx512F.FusedMultiplyAdd(wa, x, a1);
                b1 = Avx512F.FusedMultiplyAdd(wb, x, b1);
            }
            Vector512.Store(a0, o); Vector512.Store(a1, o + 16); Vector512.Store(b0, p); Vector512.Store(b1, p + 16);
        }
        for (; d + 16 <= headDim; d += 16)
        {
            var a = start ? Vector512<float>.Zero : Vector512.Load(output + d);
            var b = start ? Vector512<float>.Zero : Vector512.Load(output1 + d);
            for (int i = 0; i < count; i++)
            {
                var x = T.Load16(values[i] + d * T.Size);
                a = Avx512F.FusedMultiplyAdd(Vector512.Create(weights0[i]), x, a);
                b = Avx512F.FusedMultiplyAdd(Vector512.Create(weights1[i]), x, b);
            }
            Vector512.Store(a, output + d);
            Vector512.Store(b, output1 + d);
        }
        for (; d < headDim; d += 8)
        {
            var a = start ? Vector256<float>.Zero : Vector256.Load(output + d);
            var b = start ? Vector256<float>.Zero : Vector256.Load(output1 + d);
            for (int i = 0; i < count; i++)
            {
                var x = T.Load8(values[i] + d * T.Size);
                a = Fma.MultiplyAdd(Vector256.Create(weights0[i]), x, a);
                b = Fma.MultiplyAdd(Vector256.Create(weights1[i]), x, b);
            }
            Vector256.Store(a, output + d);
            Vector256.Store(b, output1 + d);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long SlotOffset(PagedKvCache cache, int j) => (long)(j % cache.BlockSize) * cache.KvSize;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* KeyAt<T>(PagedKvCache cache, int layer, int[] blockTable, int kvOffset, int j) where T : struct, IKvElement =>
        cache.Keys(blockTable[j / cache.BlockSize], layer) + (SlotOffset(cache, j) + kvOffset) * T.Size;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* ValueAt<T>(PagedKvCache cache, int layer, int[] blockTable, int kvOffset, int j) where T : struct, IKvElement =>
        cache.Values(blockTable[j / cache.BlockSize], layer) + (SlotOffset(cache, j) + kvOffset) * T.Size;

    /// <summary>Portable path (head sizes not a multiple of 8, or no AVX2): each row is converted to floats (on the stack: head sizes are small).</summary>
    private static void AttendPortable<T>(ReadOnlySpan<float> query, PagedKvCache cache, int layer, int[] blockTable, int kvOffset,
        int first, int last, float scale, Span<float> scores, Span<float> output) where T : struct, IKvElement
    {
        Span<float> row = stackalloc float[query.Length];
        for (int j = first; j <= last; j++)
        {
            T.LoadRow(KeyAt<T>(cache, layer, blockTable, kvOffset, j), row);
            scores[j - first] = TensorPrimitives.Dot(query, row) * scale;
        }
        float max = TensorPrimitives.Max(scores);
        TensorPrimitives.Subtract(scores, max, scores);
        TensorPrimitives.Exp(scores, scores);
        float inverseSum = 1f / TensorPrimitives.Sum(scores);
        output.Clear();
        for (int j = first; j <= last; j++)
        {
            T.LoadRow(ValueAt<T>(cache, layer, blockTable, kvOffset, j), row);
            TensorPrimitives.MultiplyAdd(row, scores[j - first], output, output);
        }
        TensorPrimitives.Multiply(output, inverseSum, output);
    }
}
