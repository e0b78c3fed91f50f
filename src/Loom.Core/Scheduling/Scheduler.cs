using System.Diagnostics;
using Loom.Core.KvCache;
using Loom.Core.Requests;

namespace Loom.Core.Scheduling;

/// <summary>
/// vLLM V1's unified scheduler: no prefill or decode phase. Each step gives running requests their remaining tokens
/// first (decodes and continuing prefill chunks), then admits waiting ones, each taking
/// min(NumTokens - NumComputedTokens, remaining budget) under max_num_batched_tokens and max_num_seqs. When KV blocks
/// run out the most recently arrived (lowest priority) running request is preempted and recomputed later.
/// </summary>
public sealed partial class Scheduler
{
    private readonly List<Request> _running = [];
    private readonly WaitingQueue _waiting;
    private readonly Dictionary<string, Request> _requests = new();
    private readonly List<string> _finishedSinceLastStep = [];
    private readonly Dictionary<string, Request> _holdingBlocks = new(); // finished, blocks kept until ReleaseHeldBlocks
    private readonly List<ScheduledRequest> _scheduled = []; // scratch, copied into each SchedulerOutput
    private long _nextArrivalOrder;

    public Scheduler(SchedulerConfig config)
    {
        Config = config.Validate();
        KvCache = new KvCacheManager(config.NumBlocks, config.BlockSize, config.EnablePrefixCaching);
        _waiting = new WaitingQueue(config.PriorityScheduling);
    }

    public SchedulerConfig Config { get; }
    public KvCacheManager KvCache { get; }

    public int NumRunning => _running.Count;
    public int NumWaiting => _waiting.Count;

    /// <summary>
    /// Running requests that have produced a token, so that a client waits on their next one: the ones a long step
    /// delays (the others are still computing their prompt, or recomputing it after a preemption).
    /// </summary>
    public int NumDecoding
    {
        get
        {
            int n = 0;
            foreach (var request in _running)
                if (request.NumOutputTokens > 0) n++;
            return n;
        }
    }
    public bool HasUnfinishedRequests => _requests.Count > 0;
    /// <summary>Draft tokens scheduled and accepted since start (speculative decoding).</summary>
    public SpecDecodingStats SpecDecoding { get; } = new();
    /// <summary>Preemptions since start.</summary>
    public long NumPreemptions { get; private set; }

    public IReadOnlyList<Request> Running => _running;

    public bool TryGetRequest(string requestId, out Request request) => _requests.TryGetValue(requestId, out request!);

    /// <summary>Queues a request after checking it can ever be served; throws <see cref="RequestRejectedException"/> if not.</summary>
    public void AddRequest(Request request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Status != RequestStatus.Waiting || request.IsSubmitted)
            throw new ArgumentException($"Request '{request.RequestId}' was already submitted.", "request_id");
        if (_requests.ContainsKey(request.RequestId))
            throw new ArgumentException($"A request with id '{request.RequestId}' is already running.", "request_id");
        if (_holdingBlocks.ContainsKey(request.RequestId))
            throw new ArgumentException($"A finished request with id '{request.RequestId}' still holds its KV blocks.", "request_id");
        CheckIntake(request);
        request.ArrivalOrder = _nextArrivalOrder++;
        request.IsSubmitted = true;
        _requests.Add(request.RequestId, request);
        _waiting.Insert(request);
    }

    private void CheckIntake(Request request)
    {
        int prompt = request.NumPromptTokens, maxTokens = request.Params.MaxTokens;
        new ContextWindow(Config.MaxModelLen).Check(prompt, maxTokens, "prompt", "max_tokens");
        int total = prompt + maxTokens; // fits max_model_len, so an int
        int blocksNeeded = KvCache.BlocksFor(total);
        if (blocksNeeded > Config.NumBlocks)
            throw new RequestRejectedException(
                $"prompt ({prompt} tokens) + max_tokens ({maxTokens}) needs {blocksNeeded} KV blocks but the whole cache holds {Config.NumBlocks} blocks of {Config.BlockSize} tokens ({(long)Config.NumBlocks * Config.BlockSize} tokens).", "max_tokens");
        if (!Config.EnableChunkedPrefill && total > Config.MaxNumBatchedTokens)
            throw new RequestRejectedException(
                $"With chunked prefill off, prompt ({prompt} tokens) + max_tokens ({maxTokens}) must fit max_num_batched_tokens {Config.MaxNumBatchedTokens} (a preempted request is recomputed in one step).", "max_tokens");
    }

    /// <summary>Decides the next step. Advances each scheduled request's NumComputedTokens (the step is assumed to run).</summary>
    public SchedulerOutput Schedule() => Schedule(Config.MaxNumBatchedTokens);

    /// <summary>
    /// Decides the next step under a token budget of its own (at most max_num_batched_tokens, at least 1): the engine's
    /// step-time control shrinks it so that a step stays near a target duration.
    /// </summary>
    public SchedulerOutput Schedule(int tokenBudget)
    {
        _scheduled.Clear();
        int stepBudget = Math.Clamp(tokenBudget, 1, Config.MaxNumBatchedTokens);
        int budget = stepBudget;
        List<string>? preempted = null;

        budget = ScheduleRunning(budget, ref preempted);
        // Admitting new work while memory forced a preemption would only thrash.
        if (preempted is null) budget = ScheduleWaiting(budget);

        var scheduled = _scheduled.ToArray();
        foreach (var s in scheduled) s.Request.NumComputedTokens = s.ContextLength;
        string[] finished = _finishedSinceLastStep.Count == 0 ? [] : [.. _finishedSinceLastStep];
        _finishedSinceLastStep.Clear();
        return new SchedulerOutput(scheduled, stepBudget - budget, NewRequestsOf(scheduled),
            preempted is null ? [] : preempted, finished);
    }

    private int ScheduleRunning(int budget, ref List<string>? preempted)
    {
        for (int i = 0; i < _running.Count && budget > 0;)
        {
            var request = _running[i];
            int numSpec = SpecTokensToSchedule(request, budget);
            if (!TryChunk(request, request.NumComputedTokens, budget, numSpec, out int numNew)) { i++; continue; }

            int blocksBefore = KvCache.NumBlocksOf(request);
            bool allocated;
            while (!(allocated = KvCache.TryAllocateSlots(request, numNew + Lookahead(request, request.NumComputedTokens + numNew))))
            {
                var victim = PickPreemptionVictim();
                int victimIndex = _running.IndexOf(victim);
                budget += Unschedule(victim);
                Preempt(victim);
                (preempted ??= []).Add(victim.RequestId);
                if (victim == request) break; // i now points at the next request
                if (victimIndex < i) i--;
            }
            if (!allocated) continue;
            _scheduled.Add(Entry(request, request.NumComputedTokens, numNew, blocksBefore, numSpec));
            budget -= numNew;
            i++;
        }
        return budget;
    }

    private int ScheduleWaiting(int budget)
    {
        for (int i = 0; i < _waiting.Count && budget > 0 && _running.Count < Config.MaxNumSeqs;)
        {
            var request = _waiting[i];
            if (!request.IsReady) { i++; continue; }
            if (request.KvLoad is { State: KvLoadState.Pending } load)
            {
                if (!TryStartKvLoad(request, load)) break; // FCFS: its blocks come first
                i++;
                continue;
            }
            // A request whose remote KV landed already holds blocks and computed tokens; any other starts from none.
            bool preloaded = KvCache.NumBlocksOf(request) > 0;
            Debug.Assert(preloaded || request.NumComputedTokens == 0);
            var computed = preloaded ? default : KvCache.GetComputedBlocks(request);
            int start = preloaded ? request.NumComputedTokens : computed.NumTokens;
            if (!TryChunk(request, start, budget, 0, out int numNew)) break;
            int lookahead = Lookahead(request, start + numNew);
            if (!KvCache.TryAllocateSlots(request, numNew + lookahead, computed)) break; // FCFS: nobody overtakes the head

            _waiting.RemoveAt(i);
            request.Status = RequestStatus.Running;
            request.NumComputedTokens = start;
            request.NumCachedTokens ??= Math.Min(start, request.NumPromptTokens);
            _running.Add(request);
            _scheduled.Add(Entry(request, start, numNew, 0));
            budget -= numNew;
        }
        return budget;
    }

    /// <summary>
    /// Lookahead slots past <paramref name="contextLength"/> (num_lookahead_tokens), never past the most tokens the
    /// request can hold (prompt + max_tokens, max_model_len): intake checked that those fit the cache.
    /// </summary>
    private int Lookahead(Request request, int contextLength)
    {
        if (Config.NumLookaheadTokens == 0) return 0;
        int most = Math.Min(request.NumPromptTokens + request.Params.MaxTokens, Config.MaxModelLen);
        return Math.Clamp(most - contextLength, 0, Config.NumLookaheadTokens);
    }

    /// <summary>
    /// How many of the request's drafts ride on this step: only on a step that reaches its last token, as many as the
    /// budget and its per-step cap leave room for, and never past what it could still emit (max_tokens, max_model_len),
    /// so its KV never outgrows what intake checked.
    /// </summary>
    private int SpecTokensToSchedule(Request request, int budget)
    {
        if (request.NumSpecTokens == 0) return 0;
        int pending = request.NumTokens - request.NumComputedTokens;
        int room = Math.Min(budget, request.MaxTokensPerStep) - pending;
        int emittable = Math.Min(request.Params.MaxTokens - request.NumOutputTokens, Config.MaxModelLen - request.NumTokens) - 1;
        return Math.Max(0, Math.Min(request.NumSpecTokens, Math.Min(room, emittable)));
    }

    /// <summary>
    /// How many of the request's remaining tokens (and <paramref name="numSpec"/> drafts) run this step: all that its own
    /// cap and the budget allow. False when none, or when chunked prefill is off and the budget (not the request's cap)
    /// would split them.
    /// </summary>
    private bool TryChunk(Request request, int numComputed, int budget, int numSpec, out int numNew)
    {
        int wanted = Math.Min(request.NumTokens + numSpec - numComputed, request.MaxTokensPerStep);
        numNew = Math.Min(wanted, budget);
        return numNew > 0 && (Config.EnableChunkedPrefill || numNew == wanted);
    }

    private ScheduledRequest Entry(Request request, int startPosition, int numNew, int blocksBefore, int numSpec = 0)
    {
        var ids = KvCache.GetBlockIds(request);
        int[] newIds = ids.Length == blocksBefore ? [] : ids[blocksBefore..].ToArray();
        return new ScheduledRequest(request, startPosition, numNew, blocksBefore, newIds, numSpec);
    }

    /// <summary>The runner's first sight of each request scheduled for the first time.</summary>
    private static NewRequestData[] NewRequestsOf(ScheduledRequest[] scheduled)
    {
        List<NewRequestData>? news = null;
        foreach (var s in scheduled)
        {
            var r = s.Request;
            if (r.IsKnownToRunner) continue;
            r.IsKnownToRunner = true;
            (news ??= []).Add(new NewRequestData(r.RequestId, r.PromptTokenIds.ToArray(), r.Params, r.SampleIndex, r.EosTokenIds, r.Gate));
        }
        return news is null ? [] : [.. news];
    }

    /// <summary>
    /// Called after the step ran (vLLM's update_from_output): appends each entry's sampled tokens until a stop, takes
    /// back the computed tokens of rejected drafts, registers newly full blocks in the prefix cache, keeps the runner's
    /// next drafts, and finishes every request that hit a token-based stop (length, max_model_len, EOS, stop token ids,
    /// after min_tokens). Returns one update per request that took tokens.
    /// </summary>
    public RequestUpdate[] UpdateFromOutput(SchedulerOutput output, ModelRunnerOutput runnerOutput)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(runnerOutput);
        if (runnerOutput.NumEntries != output.Scheduled.Count)
            throw new ArgumentException($"The runner output covers {runnerOutput.NumEntries} entries; {output.Scheduled.Count} were scheduled.", nameof(runnerOutput));
        if (runnerOutput.Drafts is { } drafts && drafts.NumEntries != output.Scheduled.Count)
            throw new ArgumentException($"The runner drafted for {drafts.NumEntries} entries; {output.Scheduled.Count} were scheduled.", nameof(runnerOutput));
        var updates = new RequestUpdate[output.NumSampled];
        int count = 0;
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            var s = output.Scheduled[i];
            var tokens = runnerOutput.SampledTokenIds(i);
            if (!s.SamplesToken && !tokens.IsEmpty)
                throw new ArgumentException($"Entry {i} ({s.RequestId}) is a prefill chunk but the runner sampled {tokens.Length} token(s).", nameof(runnerOutput));
            var request = s.Request;
            if (request.IsFinished) continue; // aborted while the step ran, or ended for a sampling fault
            if (s.SamplesToken && tokens.IsEmpty)
                throw new ArgumentException($"Entry {i} ({s.RequestId}) samples a token but the runner returned none.", nameof(runnerOutput));
            if (tokens.Length > s.NumSpecTokens + 1)
                throw new ArgumentException($"Entry {i} ({s.RequestId}) scheduled {s.NumSpecTokens} draft(s) but the runner returned {tokens.Length} tokens.", nameof(runnerOutput));
            var (taken, stop) = AppendUntilStop(request, tokens);
            if (s.NumSpecTokens > 0) SettleDrafts(request, s.NumSpecTokens, tokens.Length);
            KvCache.CacheComputedBlocks(request);
            if (!stop.Stopped) request.SetSpecTokens(runnerOutput.DraftTokenIds(i));
            if (taken > 0) updates[count++] = new RequestUpdate(request.RequestId, i, taken, request.NumOutputTokens, stop);
            if (stop.Stopped) FinishRequest(request.RequestId, stop.Status);
        }
        return count == updates.Length ? updates : updates[..count];
    }

    /// <summary>
    /// Of <paramref name="numSpec"/> drafts scored, <paramref name="numEmitted"/> - 1 were accepted (the last emitted
    /// token is the target's own): the rejected ones' KV is taken back, so only accepted tokens are ever cached.
    /// </summary>
    private void SettleDrafts(Request request, int numSpec, int numEmitted)
    {
        int accepted = Math.Max(0, numEmitted - 1);
        SpecDecoding.Observe(numSpec, accepted);
        int rejected = numSpec - accepted;
        if (rejected > 0 && !request.IsFinished) RollBackComputedTokens(request.RequestId, rejected);
    }

    /// <summary>Appends tokens one by one, checking each; tokens after a stop are dropped (vLLM does the same).</summary>
    private (int Taken, StopCheck Stop) AppendUntilStop(Request request, ReadOnlySpan<int> tokens)
    {
        for (int k = 0; k < tokens.Length; k++)
        {
            request.AppendOutputToken(tokens[k]);
            var stop = StopCheck.Evaluate(request.Params, request.EosTokenIds, request.NumTokens, request.NumOutputTokens, tokens[k], Config.MaxModelLen);
            if (stop.Stopped) return (k + 1, stop);
        }
        return (tokens.Length, StopCheck.Continue);
    }

    /// <summary>
    /// Takes back the last <paramref name="numTokens"/> computed tokens of a running request (vLLM's
    /// <c>num_computed_tokens -= num_rejected</c> after speculative tokens are rejected): blocks past the new length are
    /// released and blocks no longer full of computed tokens leave the prefix cache, as if those tokens had never run.
    /// The next step recomputes them. Throws if that would rewrite a block another request reads.
    /// </summary>
    public void RollBackComputedTokens(string requestId, int numTokens)
    {
        if (!_requests.TryGetValue(requestId, out var request) || request.Status != RequestStatus.Running)
            throw new ArgumentException($"Request '{requestId}' is not running.", nameof(requestId));
        ArgumentOutOfRangeException.ThrowIfNegative(numTokens);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(numTokens, request.NumComputedTokens);
        int computed = request.NumComputedTokens - numTokens;
        KvCache.RollBack(request, computed);
        request.NumComputedTokens = computed;
    }

    /// <summary>
    /// Ends a request (stop, length or abort): removes it from its queue and frees its blocks at once, unless it
    /// <see cref="Request.HoldsBlocksWhenFinished"/> and did not abort; then it is finished but its blocks stay
    /// allocated (and out of the free queue) until <see cref="ReleaseHeldBlocks"/>.
    /// </summary>
    public bool FinishRequest(string requestId, RequestStatus status)
    {
        if (!status.IsFinished()) throw new ArgumentException($"{status} is not a finished status.", nameof(status));
        if (!_requests.Remove(requestId, out var request)) return false;
        if (request.Status == RequestStatus.Running) _running.Remove(request);
        else _waiting.Remove(request);
        if (request.HoldsBlocksWhenFinished && status != RequestStatus.FinishedAborted && KvCache.NumBlocksOf(request) > 0)
            _holdingBlocks.Add(requestId, request);
        else
            KvCache.Free(request);
        request.Status = status;
        _finishedSinceLastStep.Add(requestId);
        return true;
    }

    /// <summary>Whether a finished request still holds its blocks (a decode node has yet to pull them).</summary>
    public bool IsHoldingBlocks(string requestId) => _holdingBlocks.ContainsKey(requestId);

    /// <summary>Finished requests whose blocks are still held (a decode node has yet to pull their KV).</summary>
    public int NumHoldingBlocks => _holdingBlocks.Count;

    /// <summary>The block ids a finished, holding request keeps, in position order (what a KV export copies).</summary>
    public ReadOnlySpan<int> HeldBlockIds(string requestId) =>
        _holdingBlocks.TryGetValue(requestId, out var request) ? KvCache.GetBlockIds(request)
            : throw new ArgumentException($"Request '{requestId}' holds no blocks.", nameof(requestId));

    /// <summary>Frees the blocks of a finished, holding request; false if it holds none (already released, or never held).</summary>
    public bool ReleaseHeldBlocks(string requestId)
    {
        if (!_holdingBlocks.Remove(requestId, out var request)) return false;
        KvCache.Free(request);
        return true;
    }

    /// <summary>
    /// Idle self-check: with no unfinished request, every KV block must be free or cached with refcount 0, except the
    /// blocks finished requests hold on purpose (those must match the pool's refcounts exactly).
    /// </summary>
    public void CheckIdle()
    {
        if (HasUnfinishedRequests)
            throw new InvalidOperationException($"Scheduler self-check called with {_requests.Count} unfinished request(s).");
        if (_holdingBlocks.Count == 0) KvCache.CheckIdle();
        else if (KvCache.NumRequestsWithBlocks != _holdingBlocks.Count)
            throw new InvalidOperationException(
                $"KV cache self-check failed: {KvCache.NumRequestsWithBlocks} request(s) have blocks but {_holdingBlocks.Count} hold them on purpose.");
        else KvCache.CheckConsistency();
    }
}
