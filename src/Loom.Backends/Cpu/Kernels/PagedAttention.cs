using System.Numerics.Tensors;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// Attention of one query head of one token over its sequence's cached keys [first, last], read through the block
/// table. Two-pass softmax in fp32 (scores, then max-shifted exponentials); the result does not depend on which other
/// tokens or sequences share the batch.
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
        int blockSize = cache.BlockSize;
        int kvSize = cache.KvSize;
        int count = last - first + 1;
        scores = scores[..count];

        for (int j = first; j <= last; j++)
        {
            float* key = cache.Keys(blockTable[j / blockSize], layer) + (long)(j % blockSize) * kvSize + kvOffset;
            scores[j - first] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(key, headDim)) * scale;
        }

        float max = TensorPrimitives.Max(scores);
        TensorPrimitives.Subtract(scores, max, scores);
        TensorPrimitives.Exp(scores, scores);
        float sum = TensorPrimitives.Sum(scores);

        output.Clear();
        for (int j = first; j <= last; j++)
        {
            float* value = cache.Values(blockTable[j / blockSize], layer) + (long)(j % blockSize) * kvSize + kvOffset;
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(value, headDim), scores[j - first], output, output);
        }
        TensorPrimitives.Multiply(output, 1f / sum, output);
    }
}
