using Loom.Models.Config;
using Loom.Models.Definition;

namespace Loom.Backends;

/// <summary>
/// Runs a <see cref="ModelDefinition"/> forward over one mixed batch (prompt chunks and decode tokens of many
/// sequences), writing K/V of the new tokens into the paged cache through each sequence's block table. The executor
/// owns its memory: weights, KV blocks, activations and the logits it returns.
/// </summary>
public interface IModelExecutor : IDisposable
{
    ModelConfig Config { get; }
    KvCacheSpec KvCache { get; }

    /// <summary>
    /// Bytes of one KV block (all layers, K and V) in the cache's own <see cref="KvCacheSpec.DType"/>: the unit of
    /// <see cref="ExportBlocks"/> and <see cref="ImportBlocks"/>.
    /// </summary>
    long BlockBytes { get; }

    /// <summary>
    /// Forwards one batch and returns its logits: [batch.NumLogits, VocabSize] fp32 rows in LogitsIndices order, in
    /// memory the executor owns. They stay valid until the next Forward or Dispose, and the caller may change them in
    /// place (logits processors and sampling work on them where they are).
    /// Attention for a new token at position p sees the cached tokens [0, p] of its own sequence
    /// (limited to the sliding window where the model has one).
    /// </summary>
    Span<float> Forward(ForwardBatch batch);

    /// <summary>Copy the KV contents of whole blocks (copy-on-write for forked sequences): dst[i] = src[i].</summary>
    void CopyBlocks(ReadOnlySpan<int> src, ReadOnlySpan<int> dst);

    /// <summary>
    /// Copies the KV contents of <paramref name="blockIds"/>, in order, into the first blockIds.Length *
    /// <see cref="BlockBytes"/> bytes of <paramref name="destination"/> (to move a prefill's KV to another process).
    /// </summary>
    void ExportBlocks(ReadOnlySpan<int> blockIds, Span<byte> destination);

    /// <summary>
    /// Overwrites blocks <paramref name="blockIds"/> with the first blockIds.Length * <see cref="BlockBytes"/> bytes of
    /// <paramref name="source"/>, as <see cref="ExportBlocks"/> wrote them from an executor of the same model, block
    /// size and KV dtype.
    /// </summary>
    void ImportBlocks(ReadOnlySpan<int> blockIds, ReadOnlySpan<byte> source);
}
