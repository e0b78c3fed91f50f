using Loom.Backends.Cpu;
using Loom.Models.Definition;

namespace Loom.Backends.Tests.Cpu;

/// <summary>How <see cref="TokenStepJob"/> splits a batch's tokens between threads.</summary>
public class TokenStepJobTests
{
    private sealed class RecordingRunner : TokenStepJob.IRunner
    {
        public readonly List<(int Start, int End)> Ranges = [];

        public void RunTokens(LayerStep step, CpuLayerWeights weights, int layer, ForwardBatch batch, int start, int end)
        {
            lock (Ranges) Ranges.Add((start, end));
        }
    }

    /// <summary>Every token exactly once, in at most two ranges per thread that differ by one token at most.</summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 100)]
    [InlineData(2, 1)]
    [InlineData(2, 3)]
    [InlineData(2, 128)]
    [InlineData(3, 1001)]
    public void Items_CoverEveryTokenOnce_Evenly(int threads, int numTokens)
    {
        using var pool = new WorkerPool(threads);
        var runner = new RecordingRunner();
        var job = new TokenStepJob(pool, runner);
        var batch = ForwardBatch.Of(new int[numTokens], Enumerable.Range(0, numTokens).ToArray(),
            [new SequenceSlice(0, numTokens, numTokens, new int[numTokens])], [numTokens - 1]);
        job.Run(LayerStep.SiluMul, null!, 0, batch, workPerToken: WorkerPool.MinParallelWork);

        var ranges = runner.Ranges.OrderBy(r => r.Start).ToList();
        Assert.Equal(Math.Min(numTokens, 2 * threads), ranges.Count);
        int next = 0;
        foreach (var (start, end) in ranges)
        {
            Assert.Equal(next, start);
            Assert.True(end > start, $"an empty range [{start}, {end})");
            next = end;
        }
        Assert.Equal(numTokens, next);
        var sizes = ranges.Select(r => r.End - r.Start).ToList();
        Assert.True(sizes.Max() - sizes.Min() <= 1, $"uneven ranges: {string.Join(", ", sizes)}");
    }
}
