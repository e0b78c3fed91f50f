using System.Collections.Immutable;
using Loom.Backends.Cpu.Kernels;
using Loom.Models.Config;
using Loom.Models.Definition;

namespace Loom.Backends.Cpu;

/// <summary>
/// The transformer forward on the CPU over a paged KV cache: it binds a <see cref="ModelDefinition"/>'s tensors and
/// runs its layer steps (families differ in the definition's flags and steps, not here). A batch mixes prompt chunks
/// and decode tokens of many sequences; each token attends to its own sequence's cache through the block table.
/// Not thread-safe: the engine calls it from one thread.
/// </summary>
public sealed unsafe partial class CpuModelExecutor : IModelExecutor, TokenStepJob.IRunner
{
    private readonly CpuModelWeights _weights;
    private readonly ImmutableArray<LayerStep> _steps;
    private readonly PagedKvCache _cache;
    private readonly RopeTable _rope;
    private readonly WorkerPool _pool;
    private readonly LinearJob _linear;
    private readonly AttentionJob _attention;
    private readonly TokenStepJob _tokenSteps;
    private readonly ForwardScratch _scratch = new();
    private bool _disposed;

    internal CpuModelExecutor(ModelDefinition definition, CpuModelWeights weights, KvCacheSpec kvCache, int numThreads)
    {
        var config = definition.Config;
        Config = config;
        KvCache = kvCache;
        _weights = weights;
        _steps = definition.LayerSteps;
        _cache = new PagedKvCache(kvCache.NumBlocks, kvCache.BlockSize, config.NumHiddenLayers, config.KvSize, kvCache.DType);
        _rope = new RopeTable(config, Math.Min(config.MaxPositionEmbeddings, 4096));
        _pool = new WorkerPool(numThreads);
        _linear = new LinearJob(_pool);
        _tokenSteps = new TokenStepJob(_pool, this);
        _attention = new AttentionJob(_pool, config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim, definition.Flags.SlidingWindow);
    }

    public ModelConfig Config { get; }
    public KvCacheSpec KvCache { get; }
    public long BlockBytes => _cache.BlockBytes;

    /// <summary>Bytes of weights a decode step streams from memory (the denominator of the bandwidth bound).</summary>
    public long WeightBytesPerToken => _weights.WeightBytesPerToken();

    public Span<float> Forward(ForwardBatch batch)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(batch);
        int n = batch.NumTokens;
        var s = _scratch;
        s.EnsureCapacity(Config, n, batch.NumLogits);
        int maxKeys = Validate(batch);
        if (n == 0) return Span<float>.Empty;
        _attention.EnsureKeys(maxKeys);
        _rope.EnsurePositions(MaxPosition(batch) + 1);

        Embed(batch, s.Hidden);
        for (int layer = 0; layer < _weights.Layers.Length; layer++)
        {
            var w = _weights.Layers[layer];
            foreach (var step in _steps) RunStep(step, w, layer, batch, maxKeys);
        }
        return ComputeLogits(batch);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _pool.Dispose();
        _attention.Dispose();
        _scratch.Dispose();
        _cache.Dispose();
    }
}
