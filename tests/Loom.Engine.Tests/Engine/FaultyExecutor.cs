using Loom.Backends;
using Loom.Models.Config;

namespace Loom.Engine.Tests.Engine;

/// <summary>
/// A real executor with switches for the faults a test needs: <see cref="Throw"/> makes the forward pass fail (a kernel
/// error: shared state, the engine must die); <see cref="NaNLogits"/> makes it return NaN logits (a broken checkpoint:
/// only the requests sampled from them may fail).
/// </summary>
internal sealed class FaultyExecutor(IModelExecutor inner) : IModelExecutor
{
    public volatile bool Throw;
    public volatile bool NaNLogits;

    public ModelConfig Config => inner.Config;
    public KvCacheSpec KvCache => inner.KvCache;

    public void Forward(ForwardBatch batch, Span<float> logits)
    {
        if (Throw) throw new InvalidOperationException("injected kernel fault");
        inner.Forward(batch, logits);
        if (NaNLogits) logits.Fill(float.NaN);
    }

    public void CopyBlocks(ReadOnlySpan<int> src, ReadOnlySpan<int> dst) => inner.CopyBlocks(src, dst);

    public void Dispose() => inner.Dispose();
}
