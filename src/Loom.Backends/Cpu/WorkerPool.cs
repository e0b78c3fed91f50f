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
/// Unlike Parallel.For it allocates nothing per call (the work objects are reused by their owners), which matters
/// because a decode step runs several hundred parallel regions. Not re-entrant: one <see cref="For"/> at a time.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    // Spinning briefly before blocking keeps wake-up latency low between the back-to-back regions of one step.
    private const int SpinCount = 500;

    private readonly Thread[] _threads;
    private readonly ManualResetEventSlim[] _start;
    private readonly ManualResetEventSlim _done = new(false, SpinCount);
    private IParallelWork? _work;
    private int _count;
    private int _next;
    private int _pending;
    private Exception? _error;
    private volatile bool _disposed;

    public WorkerPool(int numThreads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numThreads, 1);
        _threads = new Thread[numThreads - 1];
        _start = new ManualResetEventSlim[numThreads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _start[i] = new ManualResetEventSlim(false, SpinCount);
            _threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"loom-cpu-{i + 1}" };
            _threads[i].Start(i + 1);
        }
    }

    public int NumThreads => _threads.Length + 1;

    public void For(int count, IParallelWork work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count <= 0) return;
        int helpers = Math.Min(_threads.Length, count - 1);
        if (helpers == 0)
        {
            for (int i = 0; i < count; i++) work.Execute(i, 0);
            return;
        }

        _work = work;
        _count = count;
        _next = 0;
        _error = null;
        _pending = helpers;
        _done.Reset();
        for (int i = 0; i < helpers; i++) _start[i].Set();
        Drain(0);
        _done.Wait();
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
        var start = _start[worker - 1];
        while (true)
        {
            start.Wait();
            start.Reset();
            if (_disposed) return;
            Drain(worker);
            if (Interlocked.Decrement(ref _pending) == 0) _done.Set();
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var s in _start) s.Set();
        foreach (var t in _threads) t.Join();
        foreach (var s in _start) s.Dispose();
        _done.Dispose();
    }
}
