using System.Diagnostics;
using Loom.Backends.Cpu.Quantized;

namespace Loom.Backends.Cpu;

/// <summary>
/// Up to three linear layers that share one input (q/k/v, or gate/up), run as one parallel region whose work items
/// are row ranges of each layer in turn. The input is quantized first, once, in every form the layers read
/// (<see cref="PreparedInput"/>), and every item reads that copy. Reused across calls, so launching it allocates nothing.
/// </summary>
internal sealed unsafe class LinearJob(WorkerPool pool) : IParallelWork
{
    private const int MaxTargets = 3;
    private readonly CpuLinear?[] _linears = new CpuLinear?[MaxTargets];
    private readonly float*[] _outputs = new float*[MaxTargets];
    private readonly int[] _granules = new int[MaxTargets]; // RowGranularity blocks of rows per layer
    private readonly int[] _firstItem = new int[MaxTargets + 1];
    private readonly PreparedInput _input = new();
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
        // About four items per thread per layer balances load without making items too small to amortise. The items
        // split the layer's granules evenly (sizes differ by one granule at most, the larger first; see Execute):
        // rounding one item's rows up to the granularity instead could leave fewer, larger items that do not divide
        // among the threads (896 rows in 128-row items are seven, four for one thread and three for the other).
        int granules = (linear.OutFeatures + linear.RowGranularity - 1) / linear.RowGranularity;
        _granules[i] = granules;
        _firstItem[i + 1] = _firstItem[i] + Math.Min(granules, pool.NumThreads * 4);
    }

    private void Launch()
    {
        long work = 0;
        var forms = InputForms.None;
        int n = _linears[0]!.InFeatures;
        for (int i = 0; i < _numTargets; i++)
        {
            var linear = _linears[i]!;
            Debug.Assert(linear.InFeatures == n, $"{linear.Name} shares an input of {n} features but reads {linear.InFeatures}.");
            work += (long)linear.OutFeatures * n * _numTokens;
            forms |= linear.InputForms;
        }
        _input.Prepare(pool, _x, n, _numTokens, n, forms);
        pool.For(_firstItem[_numTargets], this, work);
        Array.Clear(_linears);
    }

    public void Execute(int index, int worker)
    {
        int t = 0;
        while (index >= _firstItem[t + 1]) t++;
        var linear = _linears[t]!;
        // The first (granules mod items) items take one granule more: the pool hands items out in order, so the larger
        // ones go first and the threads end level (896 rows of 32 at two threads: 4,4,4,4,3,3,3,3 granules are 14 per
        // thread; interleaved sizes 3,4,3,4,... end at 13 and 15).
        int item = index - _firstItem[t], items = _firstItem[t + 1] - _firstItem[t];
        int size = _granules[t] / items, larger = _granules[t] % items;
        int first = item * size + Math.Min(item, larger), count = size + (item < larger ? 1 : 0);
        int rowStart = first * linear.RowGranularity;
        int rowEnd = Math.Min((first + count) * linear.RowGranularity, linear.OutFeatures);
        linear.ComputeRows(_input, _outputs[t], linear.OutFeatures, rowStart, rowEnd);
    }
}
