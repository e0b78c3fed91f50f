using Loom.Models.Config;

namespace Loom.Backends;

/// <summary>
/// Runs the model forward over one mixed batch (prompt chunks and decode tokens of many sequences),
/// writing K/V of the new tokens into the paged cache through each sequence's block table.
/// </summary>
public interface IModelExecutor : IDisposable
{
    ModelConfig Config { get; }
    KvCacheSpec KvCache { get; }

    /// <summary>
    /// Forward one batch. <paramref name="logits"/> receives [batch.LogitsIndices.Length, VocabSize] rows, in order.
    /// Attention for a new token at position p sees the cached tokens [0, p] of its own sequence
    /// (limited to the sliding window where the model has one).
    /// </summary>
    void Forward(ForwardBatch batch, Span<float> logits);

    /// <summary>Copy the KV contents of whole blocks (copy-on-write for forked sequences): dst[i] = src[i].</summary>
    void CopyBlocks(ReadOnlySpan<int> src, ReadOnlySpan<int> dst);
}
