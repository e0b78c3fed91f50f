using Loom.Core.Requests;
using Loom.Core.Scheduling;

namespace Loom.Core.Tests.Scheduling;

/// <summary>
/// Drives a <see cref="Scheduler"/> the way the engine does, with a fake model: "KV" of a token is the token id itself,
/// stored per slot of a fake cache, so every step can check that each request reads exactly its own tokens through its
/// block table (prefix-cache hits and forked blocks included) and that no step overwrites KV another request reads.
/// Like the model runner, it keeps its own copy of every request (tokens, block table) built from the
/// <see cref="SchedulerOutput"/> diffs alone, and checks that copy against the scheduler's state each step.
/// </summary>
internal sealed class SimulatedEngine
{
    private const int Empty = int.MinValue;
    private readonly int[] _kv; // [numBlocks * blockSize] token id whose KV the slot holds
    private readonly Dictionary<string, RunnerCopy> _copies = new();

    public SimulatedEngine(Scheduler scheduler)
    {
        Scheduler = scheduler;
        _kv = new int[scheduler.Config.NumBlocks * scheduler.Config.BlockSize];
        Array.Fill(_kv, Empty);
    }

    public Scheduler Scheduler { get; }
    public int Steps { get; private set; }
    public List<Request> Finished { get; } = [];

    /// <summary>
    /// Speculative decoding: after each sampled step, drafts for the request's next step (given its tokens so far);
    /// null = no speculation. Drafts are verified greedily against <see cref="NextToken"/>, as the runner does.
    /// </summary>
    public Func<Request, IReadOnlyList<int>, int[]>? Drafter { get; init; }

    /// <summary>Called between scheduling and settling a step (an abort arriving while the step runs).</summary>
    public Action<SchedulerOutput>? WhileRunning { get; set; }

    /// <summary>Tokens of the fake model's next output, keyed by scheduler request id; overrides <see cref="NextToken"/>.</summary>
    public Dictionary<string, Queue<int>> Scripted { get; } = new();

    /// <summary>Deterministic fake sampling: depends only on the request's own tokens (batch-invariant by construction).</summary>
    public static int NextToken(ReadOnlySpan<int> tokens, int sampleIndex)
    {
        int h = 17 + sampleIndex;
        foreach (int t in tokens) h = unchecked(h * 31 + t);
        return (h & 0x7fffffff) % 50;
    }

    /// <summary>Each step's own token budget (the engine's step-time control); null = max_num_batched_tokens.</summary>
    public Func<int>? StepBudget { get; init; }

    public SchedulerOutput Step()
    {
        var config = Scheduler.Config;
        int budget = StepBudget?.Invoke() ?? config.MaxNumBatchedTokens;
        var output = Scheduler.Schedule(budget);
        Steps++;
        Assert.True(output.TotalNumScheduledTokens <= Math.Min(budget, config.MaxNumBatchedTokens), "token budget exceeded");
        Assert.True(output.Scheduled.Count <= config.MaxNumSeqs, "max_num_seqs exceeded");
        Assert.Equal(output.TotalNumScheduledTokens, output.Scheduled.Sum(s => s.NumNewTokens));
        Assert.Equal(output.Scheduled.Count, output.Scheduled.Select(s => s.RequestId).Distinct().Count());
        Scheduler.KvCache.CheckConsistency();
        ApplyDiffs(output);

        var sampled = new List<int>();
        var offsets = new int[output.Scheduled.Count + 1];
        var draftOffsets = new int[output.Scheduled.Count + 1];
        var drafts = new List<int>();
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            var s = output.Scheduled[i];
            offsets[i + 1] = offsets[i];
            draftOffsets[i + 1] = draftOffsets[i];
            var request = s.Request;
            var copy = _copies[s.RequestId];
            Assert.True(s.NumNewTokens > 0);
            Assert.Equal(s.ContextLength, request.NumComputedTokens);
            if (!config.EnableChunkedPrefill && request.MaxTokensPerStep == int.MaxValue) // a capped request is chunked to its cap
                Assert.True(s.SamplesToken, "a prompt was split with chunked prefill off");
            Assert.Equal(Scheduler.KvCache.GetBlockIds(request).ToArray(), copy.BlockIds.ToArray());
            Assert.Equal(request.AllTokenIds.ToArray(), copy.Tokens.ToArray());
            var table = copy.BlockIds;
            var tokens = copy.Tokens;
            List<int> written = [.. tokens, .. s.SpecTokenIds.ToArray()]; // drafts are written to KV like any token
            Assert.True(table.Count * config.BlockSize >= s.ContextLength, "block table too short for the context");
            for (int p = 0; p < s.StartPosition; p++)
                Assert.True(tokens[p] == _kv[Slot(table, p)], $"{request.RequestId} reads wrong KV at position {p}");
            for (int p = s.StartPosition; p < s.ContextLength; p++)
            {
                int slot = Slot(table, p);
                var block = Scheduler.KvCache.Pool[table[p / config.BlockSize]];
                // Writing into a block someone else also holds must not change what they read.
                Assert.True(block.RefCount == 1 || _kv[slot] == written[p], $"{request.RequestId} overwrites shared KV at position {p}");
                _kv[slot] = written[p];
            }
            if (!s.SamplesToken) continue;
            int emitted = Verify(s, copy, sampled);
            offsets[i + 1] += emitted;
            if (Drafter is null) continue;
            drafts.AddRange(Drafter(request, tokens));
            draftOffsets[i + 1] = drafts.Count;
        }
        WhileRunning?.Invoke(output);
        var runnerOutput = new ModelRunnerOutput(offsets, [.. sampled]) { Drafts = Drafter is null ? null : new DraftTokens(draftOffsets, [.. drafts]) };
        var updates = Scheduler.UpdateFromOutput(output, runnerOutput);
        Assert.Equal(updates.Length, updates.Select(u => u.RequestId).Distinct().Count());
        foreach (var s in output.Scheduled)
            if (s.Request.IsFinished) Finished.Add(s.Request);
        LastUpdates = updates;
        return output;
    }

    /// <summary>
    /// The fake model's tokens for one sampled entry: the next token, or, with drafts, each draft while it equals the
    /// next token, then the model's own (greedy verification). Appends them to the copy and to <paramref name="sampled"/>.
    /// </summary>
    private int Verify(ScheduledRequest s, RunnerCopy copy, List<int> sampled)
    {
        var tokens = copy.Tokens;
        var specTokens = s.SpecTokenIds;
        for (int j = 0; ; j++)
        {
            int token = Scripted.TryGetValue(s.RequestId, out var script) && script.Count > 0
                ? script.Dequeue()
                : NextToken(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokens), copy.SampleIndex);
            sampled.Add(token);
            tokens.Add(token);
            if (j == specTokens.Length || specTokens[j] != token) return j + 1;
        }
    }

    /// <summary>What the scheduler settled in the last step.</summary>
    public RequestUpdate[] LastUpdates { get; private set; } = [];

    /// <summary>The runner's side of the boundary: finished ids dropped, preempted tables cleared, new requests and blocks added.</summary>
    private void ApplyDiffs(SchedulerOutput output)
    {
        foreach (var id in output.FinishedRequestIds) _copies.Remove(id);
        foreach (var id in output.PreemptedRequestIds) _copies[id].BlockIds.Clear();
        foreach (var n in output.NewRequests)
            _copies.Add(n.RequestId, new RunnerCopy([.. n.PromptTokenIds], [], n.SampleIndex));
        foreach (var s in output.Scheduled)
        {
            var table = _copies[s.RequestId].BlockIds;
            table.RemoveRange(s.FirstNewBlockIndex, table.Count - s.FirstNewBlockIndex);
            table.AddRange(s.NewBlockIds);
        }
    }

    private int Slot(List<int> table, int position) =>
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

    private sealed record RunnerCopy(List<int> Tokens, List<int> BlockIds, int SampleIndex);
}
