using System.Diagnostics;

namespace Loom.Backends.Cpu;

/// <summary>A unit of parallel work: <see cref="Execute"/> runs once for each index in [0, count).</summary>
internal interface IParallelWork
{
    /// <param name="index">The work item.</param>
    /// <param name="worker">Which thread runs it, in [0, NumThreads): indexes per-thread scratch.</param>
    void Execute(int index, int worker);
}

/// <summary>
/// A fixed set of worker threads plus the calling thread, sharing items through one atomic counter.
/// A decode step is several hundred short parallel regions (microseconds each), so the costs that matter are the
/// hand-off latency and allocation: workers spin on a generation counter for a short while after each region and
/// only then block, and nothing is allocated per call (work objects are reused by their owners).
/// Not re-entrant: one <see cref="For"/> at a time.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    /// <summary>How long an idle worker spins before blocking: covers the gaps between regions and between steps.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 2000; // 0.5 ms

    private readonly Thread[] _threads;
    private readonly object _gate = new();
    private IParallelWork? _work;
    private int _count;
    private int _next;
    private int _pending;
    private long _generation;
    private int _sleepers;
    private Exception? _error;
    private volatile bool _disposed;

    public WorkerPool(int numThreads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numThreads, 1);
        _threads = new Thread[numThreads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"loom-cpu-{i + 1}" };
            _threads[i].Start(i + 1);
        }
    }

    public int NumThreads => _threads.Length + 1;

    /// <summary>
    /// Below this many multiply-adds a region runs on the caller alone: waking a worker costs microseconds, and on a
    /// busy machine a descheduled worker can hold a region up for a whole time slice.
    /// </summary>
    public const long MinParallelWork = 32 * 1024;

    /// <param name="work">Runs once per index.</param>
    /// <param name="totalWork">Rough multiply-adds in the whole region, to decide whether threads are worth waking.</param>
    public void For(int count, IParallelWork work, long totalWork = long.MaxValue)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count <= 0) return;
        if (_threads.Length == 0 || count == 1 || totalWork < MinParallelWork)
        {
            for (int i = 0; i < count; i++) work.Execute(i, 0);
            return;
        }

        _work = work;
        _count = count;
        _next = 0;
        _error = null;
        // Every worker takes part in every region (finding no item is cheap), so each sees each generation exactly once.
        _pending = _threads.Length;
        Interlocked.Increment(ref _generation); // full fence: publishes the fields above, then read _sleepers
        if (Volatile.Read(ref _sleepers) > 0)
            lock (_gate) Monitor.PulseAll(_gate);

        Drain(0);
        var spinner = new SpinWait();
        while (Volatile.Read(ref _pending) > 0) spinner.SpinOnce(sleep1Threshold: -1);
        _work = null;
        if (_error is { } error)
            throw new AggregateException("A CPU kernel failed on a worker thread.", error);
    }

    private void Drain(int worker)
    {
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < _count)
        {
            try
            {
                _work!.Execute(i, worker);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
                Volatile.Write(ref _next, _count); // the others stop taking items
            }
        }
    }

    private void WorkerLoop(object? state)
    {
        int worker = (int)state!;
        long seen = 0;
        while (true)
        {
            seen = WaitForGeneration(seen);
            if (_disposed) return;
            Drain(worker);
            Interlocked.Decrement(ref _pending);
        }
    }

    private long WaitForGeneration(long seen)
    {
        long start = Stopwatch.GetTimestamp();
        while (Volatile.Read(ref _generation) == seen && !_disposed)
        {
            if (Stopwatch.GetTimestamp() - start < SpinTicks)
            {
                Thread.SpinWait(20);
                continue;
            }
            lock (_gate)
            {
                Interlocked.Increment(ref _sleepers); // full fence before re-reading the generation
                while (Volatile.Read(ref _generation) == seen && !_disposed) Monitor.Wait(_gate);
                Interlocked.Decrement(ref _sleepers);
            }
        }
        return Volatile.Read(ref _generation);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_gate) Monitor.PulseAll(_gate);
        foreach (var t in _threads) t.Join();
    }
}
