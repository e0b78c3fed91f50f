using Loom.Backends;
using Loom.Models.Config;

namespace Loom.Tests;

/// <summary>
/// A real executor with switches for the faults a test needs: <see cref="Throw"/> makes the forward pass fail (a kernel
/// error: shared state, the engine must die); <see cref="NaNLogits"/> makes it return NaN logits (a broken checkpoint:
/// only the requests sampled from them may fail). Compiled into the test projects that reference the backends.
/// </summary>
internal sealed class FaultyExecutor(IModelExecutor inner) : IModelExecutor
{
    public volatile bool Throw;
    public volatile bool NaNLogits;

    public ModelConfig Config => inner.Config;
    public KvCacheSpec KvCache => inner.KvCache;
    public long BlockBytes => inner.BlockBytes;

    public Span<float> Forward(ForwardBatch batch)
    {
        if (Throw) throw new InvalidOperationException("injected kernel fault");
        var logits = inner.Forward(batch);
        if (NaNLogits) logits.Fill(float.NaN);
        return logits;
    }

    public void CopyBlocks(ReadOnlySpan<int> src, ReadOnlySpan<int> dst) => inner.CopyBlocks(src, dst);

    public void ExportBlocks(ReadOnlySpan<int> blockIds, Span<byte> destination) => inner.ExportBlocks(blockIds, destination);

    public void ImportBlocks(ReadOnlySpan<int> blockIds, ReadOnlySpan<byte> source) => inner.ImportBlocks(blockIds, source);

    public void Dispose() => inner.Dispose();
}
