using Loom.Core.Requests;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

/// <summary>
/// Drives a <see cref="Scheduler"/> the way the engine does, with a fake model: "KV" of a token is the token id itself,
/// stored per slot of a fake cache, so every step can check that each request reads exactly its own tokens through its
/// block table (prefix-cache hits and forked blocks included) and that no step overwrites KV another request reads.
/// </summary>
internal sealed class SimulatedEngine
{
    private const int Empty = int.MinValue;
    private readonly int[] _kv; // [numBlocks * blockSize] token id whose KV the slot holds
    private readonly int _stopToken;

    public SimulatedEngine(Scheduler scheduler, int stopToken = -1)
    {
        Scheduler = scheduler;
        _stopToken = stopToken;
        _kv = new int[scheduler.Config.NumBlocks * scheduler.Config.BlockSize];
        Array.Fill(_kv, Empty);
    }

    public Scheduler Scheduler { get; }
    public int Steps { get; private set; }
    public List<Request> Finished { get; } = [];

    /// <summary>Deterministic fake sampling: depends only on the request's own tokens (batch-invariant by construction).</summary>
    public static int NextToken(Request request)
    {
        int h = 17 + request.SampleIndex;
        foreach (int t in request.AllTokenIds) h = unchecked(h * 31 + t);
        return (h & 0x7fffffff) % 50;
    }

    public SchedulerOutput Step()
    {
        var config = Scheduler.Config;
        var output = Scheduler.Schedule();
        Steps++;
        Assert.True(output.TotalNumScheduledTokens <= config.MaxNumBatchedTokens, "token budget exceeded");
        Assert.True(output.Scheduled.Count <= config.MaxNumSeqs, "max_num_seqs exceeded");
        Assert.Equal(output.TotalNumScheduledTokens, output.Scheduled.Sum(s => s.NumNewTokens));
        Assert.Equal(output.Scheduled.Count, output.Scheduled.Select(s => s.Request.RequestId).Distinct().Count());
        Scheduler.KvCache.CheckConsistency();

        var sampled = new List<int>();
        foreach (var s in output.Scheduled)
        {
            var request = s.Request;
            Assert.True(s.NumNewTokens > 0);
            Assert.Equal(s.ContextLength, request.NumComputedTokens);
            if (!config.EnableChunkedPrefill && request.Params.PromptLogprobs is null) // prompt scoring is always chunked to its cap
                Assert.True(s.SamplesToken, "a prompt was split with chunked prefill off");
            var table = Scheduler.KvCache.GetBlockIds(request);
            Assert.True(table.Length * config.BlockSize >= s.ContextLength, "block table too short for the context");
            var tokens = request.AllTokenIds;
            for (int p = 0; p < s.StartPosition; p++)
                Assert.True(tokens[p] == _kv[Slot(table, p)], $"{request.RequestId} reads wrong KV at position {p}");
            for (int p = s.StartPosition; p < s.ContextLength; p++)
            {
                int slot = Slot(table, p);
                var block = Scheduler.KvCache.Pool[table[p / config.BlockSize]];
                // Writing into a block someone else also holds must not change what they read.
                Assert.True(block.RefCount == 1 || _kv[slot] == tokens[p], $"{request.RequestId} overwrites shared KV at position {p}");
                _kv[slot] = tokens[p];
            }
            if (s.SamplesToken) sampled.Add(NextToken(request));
        }
        Scheduler.UpdateFromOutput(output, sampled.ToArray());
        foreach (var s in output.Scheduled)
        {
            var request = s.Request;
            if (!request.IsFinished && s.SamplesToken && request.OutputTokenIds[^1] == _stopToken)
                Scheduler.FinishRequest(request.RequestId, RequestStatus.FinishedStopped);
            if (request.IsFinished) Finished.Add(request);
        }
        return output;
    }

    private int Slot(ReadOnlySpan<int> table, int position) =>
        table[position / Scheduler.Config.BlockSize] * Scheduler.Config.BlockSize + position % Scheduler.Config.BlockSize;

    /// <summary>Steps until no request is left (failing past <paramref name="maxSteps"/>: a deadlock or starvation).</summary>
    public void RunToCompletion(int maxSteps = 100_000)
    {
        while (Scheduler.HasUnfinishedRequests)
        {
            Assert.True(Steps < maxSteps, $"no progress after {maxSteps} steps: {Scheduler.NumRunning} running, {Scheduler.NumWaiting} waiting");
            Step();
        }
        Scheduler.CheckIdle();
    }
}
