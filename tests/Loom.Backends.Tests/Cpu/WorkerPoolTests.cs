using Loom.Backends.Cpu;

namespace Loom.Backends.Tests.Cpu;

public class WorkerPoolTests
{
    private sealed class CountingWork(int count) : IParallelWork
    {
        public readonly int[] Hits = new int[count];
        public int FailAt { get; init; } = -1;

        public void Execute(int index, int worker)
        {
            if (index == FailAt) throw new InvalidOperationException("item " + index);
            Interlocked.Increment(ref Hits[index]);
        }
    }

    [Theory]
    [InlineData(1, 10)]
    [InlineData(3, 1)]
    [InlineData(3, 1000)]
    public void For_RunsEveryIndexExactlyOnce_RepeatedCalls(int threads, int count)
    {
        using var pool = new WorkerPool(threads);
        for (int round = 0; round < 50; round++)
        {
            var work = new CountingWork(count);
            pool.For(count, work);
            Assert.All(work.Hits, h => Assert.Equal(1, h));
        }
    }

    /// <summary>
    /// Many short regions of random sizes, some after a pause longer than the workers' spin so that they have gone to
    /// sleep and must be woken: every index runs exactly once in every region, and no region waits forever on a
    /// worker that missed its wake-up (the timeout only detects a hang; nothing is timed).
    /// </summary>
    [Theory]
    [InlineData(2, 11)]
    [InlineData(3, 12)]
    public async Task For_ManyShortRegions_WithPauses_LosesNoWakeUpAndRunsEveryIndexOnce(int threads, int seed)
    {
        var run = Task.Run(() =>
        {
            using var pool = new WorkerPool(threads);
            var random = new Random(seed);
            for (int region = 0; region < 2000; region++)
            {
                if (random.Next(40) == 0) Thread.Sleep(random.Next(1, 3)); // past the 0.5 ms spin: workers block
                int count = random.Next(1, 65);
                var work = new CountingWork(count);
                pool.For(count, work);
                for (int i = 0; i < count; i++)
                    if (work.Hits[i] != 1) return $"region {region}: index {i} of {count} ran {work.Hits[i]} times";
            }
            return null;
        });
        // A TimeoutException here means a region never completed: a worker missed its wake-up.
        Assert.Null(await run.WaitAsync(TimeSpan.FromMinutes(2)));
    }

    [Fact]
    public void For_SurfacesAWorkerException_AndStaysUsable()
    {
        using var pool = new WorkerPool(2);
        var e = Assert.Throws<AggregateException>(() => pool.For(100, new CountingWork(100) { FailAt = 57 }));
        Assert.Contains("item 57", e.InnerException!.Message);

        var ok = new CountingWork(20);
        pool.For(20, ok);
        Assert.All(ok.Hits, h => Assert.Equal(1, h));
    }
}

public class WorkerPoolInlineTests
{
    private sealed class WorkerRecorder : IParallelWork
    {
        public readonly HashSet<int> Workers = [];
        public void Execute(int index, int worker) { lock (Workers) Workers.Add(worker); }
    }

    [Fact]
    public void For_SmallRegion_RunsOnTheCallerOnly()
    {
        using var pool = new WorkerPool(3);
        var work = new WorkerRecorder();
        pool.For(100, work, totalWork: WorkerPool.MinParallelWork - 1);
        Assert.Equal([0], work.Workers);
    }
}
