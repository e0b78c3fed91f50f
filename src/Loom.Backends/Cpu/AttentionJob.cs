using Loom.Backends.Cpu.Kernels;

namespace Loom.Backends.Cpu;

/// <summary>
/// Attention for every (token, query head) of a batch, for one layer. A work item is one token's query heads that share
/// a KV head (the whole GQA group, so its keys and values are read once for all of them), split into smaller runs of
/// heads only when there would otherwise be too few items to keep the threads busy (a small decode batch). Each head's
/// result has the same bits however the heads are grouped (<see cref="PagedAttention.AttendHeads"/>).
/// </summary>
internal sealed unsafe class AttentionJob(WorkerPool pool, int numHeads, int numKvHeads, int headDim, int? slidingWindow) : IParallelWork
{
    private readonly float _scale = 1f / MathF.Sqrt(headDim);
    private readonly int _groupSize = numHeads / numKvHeads;
    private readonly ScratchBuffer[] _scores = CreateScores(pool.NumThreads); // per worker: [groupSize, maxKeys]
    private int _headsPerItem;
    private int _itemsPerGroup;
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
        foreach (var s in _scores) s.EnsureCapacity((long)_groupSize * maxKeys);
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
        // About four items per thread; fewer heads per item only when whole groups would give fewer than that.
        int groups = numTokens * numKvHeads;
        int wanted = Math.Clamp((4 * pool.NumThreads + groups - 1) / groups, 1, _groupSize);
        _headsPerItem = (_groupSize + wanted - 1) / wanted;
        _itemsPerGroup = (_groupSize + _headsPerItem - 1) / _headsPerItem;
        pool.For(groups * _itemsPerGroup, this, 2L * numTokens * numHeads * maxKeys * headDim);
        _cache = null;
    }

    public void Execute(int index, int worker)
    {
        int group = index / _itemsPerGroup;
        int token = group / numKvHeads;
        int kvHead = group % numKvHeads;
        int head = kvHead * _groupSize + index % _itemsPerGroup * _headsPerItem;
        int heads = Math.Min(_headsPerItem, (kvHead + 1) * _groupSize - head);
        int position = _positions[token];
        long offset = ((long)token * numHeads + head) * headDim;
        PagedAttention.AttendHeads(_q + offset, heads, headDim, _cache!, _layer, _seqs[_tokenSeq[token]].BlockTable, kvHead * headDim,
            FirstVisibleKey(position), position, _scale, _scores[worker].Pointer, _output + offset, CpuIsa.Avx512);
    }

    public void Dispose()
    {
        foreach (var s in _scores) s.Dispose();
    }
}
