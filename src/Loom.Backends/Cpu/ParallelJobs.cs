using Loom.Backends.Cpu.Kernels;

namespace Loom.Backends.Cpu;

/// <summary>
/// Up to three linear layers that share one input (q/k/v, or gate/up), run as one parallel region whose work items
/// are row ranges of each layer in turn. Reused across calls, so launching it allocates nothing.
/// </summary>
internal sealed unsafe class LinearJob(WorkerPool pool) : IParallelWork
{
    private const int MaxTargets = 3;
    private readonly CpuLinear?[] _linears = new CpuLinear?[MaxTargets];
    private readonly float*[] _outputs = new float*[MaxTargets];
    private readonly int[] _rowsPerItem = new int[MaxTargets];
    private readonly int[] _firstItem = new int[MaxTargets + 1];
    private int _numTargets;
    private float* _x;
    private int _numTokens;

    /// <summary>y = x W^T for one layer: x [numTokens, In], y [numTokens, Out].</summary>
    public void Run(CpuLinear linear, float* x, int numTokens, float* y)
    {
        Begin(x, numTokens);
        Add(linear, y);
        Launch();
    }

    public void Run(CpuLinear a, float* ya, CpuLinear b, float* yb, float* x, int numTokens)
    {
        Begin(x, numTokens);
        Add(a, ya);
        Add(b, yb);
        Launch();
    }

    public void Run(CpuLinear a, float* ya, CpuLinear b, float* yb, CpuLinear c, float* yc, float* x, int numTokens)
    {
        Begin(x, numTokens);
        Add(a, ya);
        Add(b, yb);
        Add(c, yc);
        Launch();
    }

    private void Begin(float* x, int numTokens)
    {
        _x = x;
        _numTokens = numTokens;
        _numTargets = 0;
    }

    private void Add(CpuLinear linear, float* y)
    {
        int i = _numTargets++;
        _linears[i] = linear;
        _outputs[i] = y;
        // About four items per thread per layer balances load without making items too small to amortise.
        int granularity = linear.RowGranularity;
        int rows = (linear.OutFeatures + pool.NumThreads * 4 - 1) / (pool.NumThreads * 4);
        rows = Math.Max(granularity, (rows + granularity - 1) / granularity * granularity);
        _rowsPerItem[i] = rows;
        _firstItem[i + 1] = _firstItem[i] + (linear.OutFeatures + rows - 1) / rows;
    }

    private void Launch()
    {
        pool.For(_firstItem[_numTargets], this);
        Array.Clear(_linears);
    }

    public void Execute(int index, int worker)
    {
        int t = 0;
        while (index >= _firstItem[t + 1]) t++;
        var linear = _linears[t]!;
        int rowStart = (index - _firstItem[t]) * _rowsPerItem[t];
        int rowEnd = Math.Min(rowStart + _rowsPerItem[t], linear.OutFeatures);
        linear.ComputeRows(_x, linear.InFeatures, _numTokens, _outputs[t], linear.OutFeatures, rowStart, rowEnd);
    }
}

/// <summary>Attention for every (token, query head) of a batch, one work item each, for one layer.</summary>
internal sealed unsafe class AttentionJob(WorkerPool pool, int numHeads, int numKvHeads, int headDim, int? slidingWindow) : IParallelWork
{
    private readonly float _scale = 1f / MathF.Sqrt(headDim);
    private readonly NativeBuffer[] _scores = CreateScores(pool.NumThreads); // per worker: [maxKeys]
    private PagedKvCache? _cache;
    private int _layer;
    private float* _q;      // [numTokens, numHeads * headDim]
    private float* _output; // [numTokens, numHeads * headDim]
    private int[] _positions = [];
    private int[] _tokenSeq = [];
    private SequenceSlice[] _seqs = [];

    private static NativeBuffer[] CreateScores(int n)
    {
        var buffers = new NativeBuffer[n];
        for (int i = 0; i < n; i++) buffers[i] = new NativeBuffer(256);
        return buffers;
    }

    /// <summary>Grows per-thread score scratch to hold <paramref name="maxKeys"/> keys (outside the hot loop).</summary>
    public void EnsureKeys(int maxKeys)
    {
        foreach (var s in _scores) s.EnsureCapacity(maxKeys);
    }

    /// <summary>First key position visible from a query at <paramref name="position"/> (keys after p - window, per HF).</summary>
    public int FirstVisibleKey(int position) => slidingWindow is int w ? Math.Max(0, position - w + 1) : 0;

    public void Run(PagedKvCache cache, int layer, float* q, float* output, int[] positions, int[] tokenSeq, SequenceSlice[] seqs, int numTokens)
    {
        _cache = cache;
        _layer = layer;
        _q = q;
        _output = output;
        _positions = positions;
        _tokenSeq = tokenSeq;
        _seqs = seqs;
        pool.For(numTokens * numHeads, this);
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
