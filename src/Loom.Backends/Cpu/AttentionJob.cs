using Loom.Backends.Cpu.Kernels;

namespace Loom.Backends.Cpu;

/// <summary>Attention for every (token, query head) of a batch, one work item each, for one layer.</summary>
internal sealed unsafe class AttentionJob(WorkerPool pool, int numHeads, int numKvHeads, int headDim, int? slidingWindow) : IParallelWork
{
    private readonly float _scale = 1f / MathF.Sqrt(headDim);
    private readonly ScratchBuffer[] _scores = CreateScores(pool.NumThreads); // per worker: [maxKeys]
    private PagedKvCache? _cache;
    private int _layer;
    private float* _q;      // [numTokens, numHeads * headDim]
    private float* _output; // [numTokens, numHeads * headDim]
    private int[] _positions = [];
    private int[] _tokenSeq = [];
    private SequenceSlice[] _seqs = [];

    private static ScratchBuffer[] CreateScores(int n)
    {
        var buffers = new ScratchBuffer[n];
        for (int i = 0; i < n; i++) buffers[i] = new ScratchBuffer(256);
        return buffers;
    }

    /// <summary>Grows per-thread score scratch to hold <paramref name="maxKeys"/> keys (outside the hot loop).</summary>
    public void EnsureKeys(int maxKeys)
    {
        foreach (var s in _scores) s.EnsureCapacity(maxKeys);
    }

    /// <summary>First key position visible from a query at <paramref name="position"/> (keys after p - window, per HF).</summary>
    public int FirstVisibleKey(int position) => slidingWindow is int w ? Math.Max(0, position - w + 1) : 0;

    /// <param name="maxKeys">The most keys any token attends to (sizes the work estimate).</param>
    public void Run(PagedKvCache cache, int layer, float* q, float* output, int[] positions, int[] tokenSeq, SequenceSlice[] seqs,
        int numTokens, int maxKeys)
    {
        _cache = cache;
        _layer = layer;
        _q = q;
        _output = output;
        _positions = positions;
        _tokenSeq = tokenSeq;
        _seqs = seqs;
        pool.For(numTokens * numHeads, this, 2L * numTokens * numHeads * maxKeys * headDim);
        _cache = null;
    }

    public void Execute(int index, int worker)
    {
        int token = index / numHeads;
        int head = index % numHeads;
        int position = _positions[token];
        int kvHead = head / (numHeads / numKvHeads);
        long offset = ((long)token * numHeads + head) * headDim;
        var scores = _scores[worker];
        PagedAttention.Attend(new ReadOnlySpan<float>(_q + offset, headDim), _cache!, _layer, _seqs[_tokenSeq[token]].BlockTable,
            kvHead * headDim, FirstVisibleKey(position), position, _scale, scores.Span, new Span<float>(_output + offset, headDim));
    }

    public void Dispose()
    {
        foreach (var s in _scores) s.Dispose();
    }
}
