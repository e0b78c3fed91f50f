using Loom.Backends.Cpu.Kernels;
using Loom.Models.Config;

namespace Loom.Backends.Cpu;

/// <summary>
/// The transformer forward on the CPU over a paged KV cache, for every supported family (differences are flags in
/// <see cref="ModelConfig"/>). A batch mixes prompt chunks and decode tokens of many sequences; each token attends to
/// its own sequence's cache through the block table. Not thread-safe: the engine calls it from one thread.
/// </summary>
public sealed unsafe partial class CpuModelExecutor : IModelExecutor
{
    private readonly CpuModelWeights _weights;
    private readonly PagedKvCache _cache;
    private readonly RopeTable _rope;
    private readonly WorkerPool _pool;
    private readonly LinearJob _linear;
    private readonly AttentionJob _attention;
    private readonly ForwardScratch _scratch = new();
    private bool _disposed;

    internal CpuModelExecutor(ModelConfig config, CpuModelWeights weights, KvCacheSpec kvCache, int numThreads)
    {
        Config = config;
        KvCache = kvCache;
        _weights = weights;
        _cache = new PagedKvCache(kvCache.NumBlocks, kvCache.BlockSize, config.NumHiddenLayers, config.KvSize, kvCache.DType);
        _rope = new RopeTable(config, Math.Min(config.MaxPositionEmbeddings, 4096));
        _pool = new WorkerPool(numThreads);
        _linear = new LinearJob(_pool);
        _attention = new AttentionJob(_pool, config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim, config.SlidingWindow);
    }

    public ModelConfig Config { get; }
    public KvCacheSpec KvCache { get; }

    /// <summary>Bytes of weights a decode step streams from memory (the denominator of the bandwidth bound).</summary>
    public long WeightBytesPerToken => _weights.WeightBytesPerToken();

    public void Forward(ForwardBatch batch, Span<float> logits)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(batch);
        int n = batch.NumTokens;
        var s = _scratch;
        s.EnsureCapacity(Config, n, batch.LogitsIndices.Length);
        int maxKeys = Validate(batch, logits);
        if (n == 0) return;
        _attention.EnsureKeys(maxKeys);
        _rope.EnsurePositions(MaxPosition(batch) + 1);

        Embed(batch.TokenIds, s.Hidden);
        for (int layer = 0; layer < _weights.Layers.Length; layer++)
        {
            var w = _weights.Layers[layer];
            // h = x + attn(norm(x))
            RmsNormRows(s.Hidden, w.InputNorm, s.Normed, n);
            _linear.Run(w.Q, s.Q.Pointer, w.K, s.K.Pointer, w.V, s.V.Pointer, s.Normed.Pointer, n);
            if (w.QNorm != null) Norms.RmsNormRowsInPlace(s.Q.Slice(0, n * Config.QSize), w.QNorm, Config.RmsNormEps);
            if (w.KNorm != null) Norms.RmsNormRowsInPlace(s.K.Slice(0, n * Config.KvSize), w.KNorm, Config.RmsNormEps);
            ApplyRope(batch.Positions, n);
            WriteKv(layer, batch, n);
            _attention.Run(_cache, layer, s.Q.Pointer, s.Attention.Pointer, batch.Positions, s.TokenSeq, batch.Seqs, n, maxKeys);
            _linear.Run(w.O, s.Attention.Pointer, n, s.Projected.Pointer);
            AddInPlace(s.Hidden, s.Projected, n * Config.HiddenSize);
            // out = h + mlp(norm(h))
            RmsNormRows(s.Hidden, w.PostAttentionNorm, s.Normed, n);
            _linear.Run(w.Gate, s.Gate.Pointer, w.Up, s.Up.Pointer, s.Normed.Pointer, n);
            Norms.SiluMulInPlace(s.Gate.Slice(0, n * Config.IntermediateSize), s.Up.Slice(0, n * Config.IntermediateSize));
            _linear.Run(w.Down, s.Gate.Pointer, n, s.Projected.Pointer);
            AddInPlace(s.Hidden, s.Projected, n * Config.HiddenSize);
        }
        ComputeLogits(batch.LogitsIndices, logits);
    }

    public void CopyBlocks(ReadOnlySpan<int> src, ReadOnlySpan<int> dst)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (src.Length != dst.Length)
            throw new ArgumentException($"CopyBlocks got {src.Length} source blocks but {dst.Length} destinations.", nameof(dst));
        for (int i = 0; i < src.Length; i++)
        {
            CheckBlock(src[i], "src");
            CheckBlock(dst[i], "dst");
            _cache.CopyBlock(src[i], dst[i]);
        }
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
