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
    public bool HasUnfinishedRequests => _requests.Count > 0;
    /// <summary>Preemptions since start.</summary>
    public long NumPreemptions { get; private set; }

    public IReadOnlyList<Request> Running => _running;

    public bool TryGetRequest(string requestId, out Request request) => _requests.TryGetValue(requestId, out request!);

    /// <summary>Queues a request after checking it can ever be served; throws <see cref="RequestRejectedException"/> if not.</summary>
    public void AddRequest(Request request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Status != RequestStatus.Waiting || request.ArrivalOrder >= 0)
            throw new ArgumentException($"Request '{request.RequestId}' was already submitted.", "request_id");
        if (_requests.ContainsKey(request.RequestId))
            throw new ArgumentException($"A request with id '{request.RequestId}' is already running.", "request_id");
        CheckIntake(request);
        request.ArrivalOrder = _nextArrivalOrder++;
        _requests.Add(request.RequestId, request);
        _waiting.Insert(request);
    }

    private void CheckIntake(Request request)
    {
        // long: prompt + max_tokens must not wrap (max_tokens = int.MaxValue is a valid-looking request).
        int prompt = request.NumPromptTokens, maxTokens = request.Params.MaxTokens;
        long total = (long)prompt + maxTokens;
        if (prompt >= Config.MaxModelLen)
            throw new RequestRejectedException(
                $"The prompt has {prompt} tokens but max_model_len is {Config.MaxModelLen} (leave room for at least one output token).", "prompt");
        if (total > Config.MaxModelLen)
            throw new RequestRejectedException(
                $"prompt ({prompt} tokens) + max_tokens ({maxTokens}) = {total} exceeds max_model_len {Config.MaxModelLen}; lower max_tokens to at most {Config.MaxModelLen - prompt}.", "max_tokens");
        int blocksNeeded = KvCache.BlocksFor((int)total); // <= max_model_len: fits an int
        if (blocksNeeded > Config.NumBlocks)
            throw new RequestRejectedException(
                $"prompt ({prompt} tokens) + max_tokens ({maxTokens}) needs {blocksNeeded} KV blocks but the whole cache holds {Config.NumBlocks} blocks of {Config.BlockSize} tokens ({(long)Config.NumBlocks * Config.BlockSize} tokens).", "max_tokens");
        if (!Config.EnableChunkedPrefill && total > Config.MaxNumBatchedTokens)
            throw new RequestRejectedException(
                $"With chunked prefill off, prompt ({prompt} tokens) + max_tokens ({maxTokens}) must fit max_num_batched_tokens {Config.MaxNumBatchedTokens} (a preempted request is recomputed in one step).", "max_tokens");
    }

    /// <summary>Decides the next step. Advances each scheduled request's NumComputedTokens (the step is assumed to run).</summary>
    public SchedulerOutput Schedule()
    {
        _scheduled.Clear();
        int budget = Config.MaxNumBatchedTokens;
        List<Request>? preempted = null;

        budget = ScheduleRunning(budget, ref preempted);
        // Admitting new work while memory forced a preemption would only thrash.
        if (preempted is null) budget = ScheduleWaiting(budget);

        var scheduled = _scheduled.ToArray();
        foreach (var s in scheduled) s.Request.NumComputedTokens = s.ContextLength;
        string[] finished = _finishedSinceLastStep.Count == 0 ? [] : [.. _finishedSinceLastStep];
        _finishedSinceLastStep.Clear();
        return new SchedulerOutput(scheduled, Config.MaxNumBatchedTokens - budget, preempted is null ? [] : preempted, finished);
    }

    private int ScheduleRunning(int budget, ref List<Request>? preempted)
    {
        for (int i = 0; i < _running.Count && budget > 0;)
        {
            var request = _running[i];
            int remaining = request.NumTokens - request.NumComputedTokens;
            int numNew = Math.Min(remaining, budget);
            if (numNew <= 0 || (!Config.EnableChunkedPrefill && numNew < remaining && !ScoresPrompt(request))) { i++; continue; }
            numNew = CapPromptScoring(request, numNew);

            int blocksBefore = KvCache.NumBlocksOf(request);
            bool allocated;
            while (!(allocated = KvCache.TryAllocateSlots(request, numNew)))
            {
                var victim = PickPreemptionVictim();
                int victimIndex = _running.IndexOf(victim);
                budget += Unschedule(victim);
                Preempt(victim);
                (preempted ??= []).Add(victim);
                if (victim == request) break; // i now points at the next request
                if (victimIndex < i) i--;
            }
            if (!allocated) continue;
            _scheduled.Add(new ScheduledRequest(request, request.NumComputedTokens, numNew, NewBlockIds(request, blocksBefore),
                SamplesToken: request.NumComputedTokens + numNew == request.NumTokens));
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
            if (IsWaitingForForkSource(request)) { i++; continue; }
            Debug.Assert(request.NumComputedTokens == 0 && KvCache.NumBlocksOf(request) == 0);

            var computed = KvCache.GetComputedBlocks(request);
            int remaining = request.NumTokens - computed.NumTokens;
            if (!Config.EnableChunkedPrefill && remaining > budget && !ScoresPrompt(request)) break;
            int numNew = CapPromptScoring(request, Math.Min(remaining, budget));
            if (!KvCache.TryAllocateSlots(request, numNew, computed)) break; // FCFS: nobody overtakes the head

            _waiting.RemoveAt(i);
            request.Status = RequestStatus.Running;
            request.NumComputedTokens = computed.NumTokens;
            if (request.NumCachedTokens < 0) request.NumCachedTokens = Math.Min(computed.NumTokens, request.NumPromptTokens);
            _running.Add(request);
            _scheduled.Add(new ScheduledRequest(request, computed.NumTokens, numNew, NewBlockIds(request, computed.Blocks.Count),
                SamplesToken: computed.NumTokens + numNew == request.NumTokens));
            budget -= numNew;
        }
        return budget;
    }

    private static bool ScoresPrompt(Request request) => request.Params.PromptLogprobs is not null;

    /// <summary>A prompt-scoring request's chunk is capped (its logits rows are a vocabulary each).</summary>
    private int CapPromptScoring(Request request, int numNew) =>
        ScoresPrompt(request) ? Math.Min(numNew, Config.MaxPromptLogprobTokensPerStep) : numNew;

    /// <summary>A forked sample waits until its source has computed the prompt it will share (if the source still runs).</summary>
    private static bool IsWaitingForForkSource(Request request) =>
        request.ForkSource is { } source && !source.IsFinished && source.NumComputedTokens < source.NumPromptTokens;

    private int[] NewBlockIds(Request request, int blocksBefore)
    {
        var ids = KvCache.GetBlockIds(request);
        return ids.Length == blocksBefore ? [] : ids[blocksBefore..].ToArray();
    }

    /// <summary>
    /// Called after the step ran: appends each sampled token (one per entry with SamplesToken, in order), registers
    /// newly full blocks in the prefix cache, and finishes requests that reached max_tokens or max_model_len.
    /// </summary>
    public void UpdateFromOutput(SchedulerOutput output, ReadOnlySpan<int> sampledTokenIds)
    {
        int next = 0;
        foreach (var s in output.Scheduled)
        {
            var request = s.Request;
            int? token = s.SamplesToken ? sampledTokenIds[next++] : null;
            if (request.IsFinished) continue; // aborted while the step ran
            if (token is { } t) request.AppendOutputToken(t);
            KvCache.CacheComputedBlocks(request);
            if (request.NumOutputTokens >= request.Params.MaxTokens || request.NumTokens >= Config.MaxModelLen)
                FinishRequest(request.RequestId, RequestStatus.FinishedLength);
        }
        if (next != sampledTokenIds.Length)
            throw new ArgumentException($"Expected {next} sampled tokens, got {sampledTokenIds.Length}.", nameof(sampledTokenIds));
    }

    /// <summary>Ends a request (stop, length or abort): removes it from its queue and frees its blocks at once.</summary>
    public bool FinishRequest(string requestId, RequestStatus status)
    {
        if (!status.IsFinished()) throw new ArgumentException($"{status} is not a finished status.", nameof(status));
        if (!_requests.Remove(requestId, out var request)) return false;
        if (request.Status == RequestStatus.Running) _running.Remove(request);
        else _waiting.Remove(request);
        KvCache.Free(request);
        request.Status = status;
        _finishedSinceLastStep.Add(requestId);
        return true;
    }

    /// <summary>Idle self-check: with no unfinished request, every KV block must be free or cached with refcount 0.</summary>
    public void CheckIdle()
    {
        if (HasUnfinishedRequests)
            throw new InvalidOperationException($"Scheduler self-check called with {_requests.Count} unfinished request(s).");
        KvCache.CheckIdle();
    }
}
