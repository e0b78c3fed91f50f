using Loom.Backends;
using Loom.Core.Requests;
using Loom.Core.Scheduling;
using Loom.Engine.Output;
using Loom.Engine.Requests;
using Loom.Tokenizers;

namespace Loom.Engine;

/// <summary>
/// The synchronous engine (vLLM's LLMEngine / EngineCore): add and abort requests, and <see cref="Step"/> = schedule,
/// run the model, postprocess. Not thread-safe: one thread owns it (see <see cref="AsyncLlm"/> for the threaded front).
/// A request with n &gt; 1 becomes n sequences; samples 1..n-1 share the prompt KV blocks of sample 0.
/// </summary>
public sealed partial class LlmEngine
{
    private readonly Scheduler _scheduler;
    private readonly ModelRunner _runner;
    private readonly ITokenizer? _tokenizer;
    private readonly IReadOnlyList<int> _eosTokenIds;
    private readonly Dictionary<string, RequestState> _requests = new();
    private readonly Dictionary<string, SequenceState> _sequences = new(); // by scheduler request id
    private readonly List<RequestState> _touched = [];                     // requests with news this step
    private readonly List<RequestOutput> _endedOutputs = [];                // aborts and failures, not yet reported by Step
    private readonly List<RequestState> _compiling = [];                   // requests whose grammar was still compiling when added
    /// <summary>Floats of prompt-scoring logits one step may hold (128 MiB): bounds prompt_logprobs chunks by the vocabulary.</summary>
    private const int PromptLogprobLogitsBudget = 32 << 20;
    private long _promptTokensTotal, _generationTokensTotal;
    private readonly StepTimeBudget? _stepTime; // sizes each step's budget to a target duration, or null

    /// <param name="executor">Holds the weights and the paged KV cache (its KvCache spec sizes the block pool).</param>
    /// <param name="tokenizer">For incremental detokenization; null = token ids only (text stays empty).</param>
    /// <param name="maxModelLen">Prompt + output limit per request.</param>
    /// <param name="draftExecutor">The draft model when <see cref="EngineOptions.Speculative"/> is method draft_model: same
    /// vocabulary, and a KV cache of the same block count and size (the scheduler's block ids name blocks in both).</param>
    public LlmEngine(IModelExecutor executor, ITokenizer? tokenizer, IReadOnlyList<int> eosTokenIds, int maxModelLen, EngineOptions options,
        IModelExecutor? draftExecutor = null)
    {
        ArgumentNullException.ThrowIfNull(executor);
        ArgumentNullException.ThrowIfNull(eosTokenIds);
        ArgumentNullException.ThrowIfNull(options);
        CheckDraft(executor, draftExecutor, options);
        Options = options;
        MaxModelLen = maxModelLen;
        _tokenizer = tokenizer;
        _eosTokenIds = eosTokenIds;
        VocabSize = executor.Config.VocabSize;
        _scheduler = new Scheduler(new SchedulerConfig
        {
            MaxNumSeqs = options.MaxNumSeqs,
            MaxNumBatchedTokens = options.StepTokenBudget,
            MaxModelLen = maxModelLen,
            BlockSize = executor.KvCache.BlockSize,
            NumBlocks = executor.KvCache.NumBlocks,
            EnablePrefixCaching = options.EnablePrefixCaching,
            EnableChunkedPrefill = options.EnableChunkedPrefill,
            PriorityScheduling = options.PriorityScheduling,
            // A draft model writes KV for its drafts past the last token before the next step schedules them.
            NumLookaheadTokens = options.Speculative is { IsDraftModel: true } spec ? spec.NumSpeculativeTokens : 0,
        });
        _runner = new ModelRunner(executor, options.StepTokenBudget, options.MaxNumSeqs, options.Speculative, draftExecutor);
        _leases = new KvTransfer.KvLeases(options.KvLeaseTimeout);
        _stepTime = StepTimeBudgetFor(options);
        if (options.EnableKvCacheEvents)
        {
            _kvEventLog = _scheduler.KvCache.EnableEvents();
            KvEvents = new KvEvents.KvEventStream();
        }
    }

    /// <summary>The step-time control, or null for a fixed budget; a target without chunked prefill is refused.</summary>
    private static StepTimeBudget? StepTimeBudgetFor(EngineOptions options)
    {
        if (options.StepTimeTarget is not { } target) return null;
        if (target <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException("step_time_target", target, "The step time target must be positive.");
        if (!options.EnableChunkedPrefill)
            throw new ArgumentException("A step time target needs chunked prefill: without it a prompt runs whole in one step.", "step_time_target");
        return new StepTimeBudget(target, options.StepTokenBudget);
    }

    private static void CheckDraft(IModelExecutor executor, IModelExecutor? draft, EngineOptions options)
    {
        bool wanted = options.Speculative?.IsDraftModel == true;
        if (draft is null)
        {
            if (wanted) throw new ArgumentException("--speculative-config method \"draft_model\" needs the draft model's executor.", "model");
            return;
        }
        if (!wanted) throw new ArgumentException("A draft executor was given but --speculative-config is not method \"draft_model\".", "speculative_config");
        if (draft.Config.VocabSize != executor.Config.VocabSize)
            throw new ArgumentException($"The draft model's vocabulary ({draft.Config.VocabSize} tokens) differs from the target's ({executor.Config.VocabSize}).", "model");
        if (draft.KvCache.NumBlocks != executor.KvCache.NumBlocks || draft.KvCache.BlockSize != executor.KvCache.BlockSize)
            throw new ArgumentException($"The draft's KV cache ({draft.KvCache.NumBlocks} blocks of {draft.KvCache.BlockSize}) must have the target's " +
                $"shape ({executor.KvCache.NumBlocks} blocks of {executor.KvCache.BlockSize}): block ids are shared.", "model");
    }

    public EngineOptions Options { get; }
    public int MaxModelLen { get; }
    public int VocabSize { get; }

    /// <summary>Requests not yet finished, or aborts not yet reported: call <see cref="Step"/>.</summary>
    public bool HasWork => _scheduler.HasUnfinishedRequests || _endedOutputs.Count > 0;

    public int NumUnfinishedRequests => _requests.Count;

    /// <summary>Sees the raw logits of every sampled row (for tests and debugging).</summary>
    public LogitsObserver? LogitsObserver
    {
        get => _runner.LogitsObserver;
        set => _runner.LogitsObserver = value;
    }

    /// <summary>
    /// Queues a request. Throws <see cref="ArgumentException"/> naming the field for bad sampling parameters, token ids
    /// outside the vocabulary, a duplicate id, or a request that can never fit (max_model_len or the whole KV cache).
    /// </summary>
    public void AddRequest(EngineRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrEmpty(request.RequestId)) throw new ArgumentException("request_id must not be empty.", "request_id");
        if (_requests.ContainsKey(request.RequestId))
            throw new ArgumentException($"A request with id '{request.RequestId}' is already running.", "request_id");
        var samplingParams = (request.Params ?? throw new ArgumentException("Sampling parameters are missing.", "params")).Validate();
        int[] prompt = [.. request.PromptTokenIds];
        for (int i = 0; i < prompt.Length; i++)
            if ((uint)prompt[i] >= (uint)VocabSize)
                throw new ArgumentException($"Prompt token {i} is {prompt[i]}, outside the vocabulary [0, {VocabSize}).", "prompt");
        if (samplingParams.LogitBias is { } bias)
            foreach (int id in bias.Keys)
                if ((uint)id >= (uint)VocabSize)
                    throw new ArgumentException($"logit_bias names token {id}, outside the vocabulary [0, {VocabSize}).", "logit_bias");
        CheckKvTransfer(request, samplingParams, KvFetcher);

        var state = new RequestState(request);
        bool scoresPrompt = samplingParams.PromptLogprobs is not null;
        var sequences = new SequenceState[samplingParams.N];
        for (int i = 0; i < sequences.Length; i++)
        {
            var scheduled = new Request(SequenceId(request.RequestId, i, sequences.Length), prompt, samplingParams, request.Priority)
            {
                ForkSource = i == 0 ? null : sequences[0].Request,
                SampleIndex = i,
                CacheSalt = request.CacheSalt,
                EosTokenIds = _eosTokenIds,
                Gate = request.Grammar,
                // prompt_logprobs: every prompt position is a vocabulary-sized logits row, computed here, not served from cache.
                MaxTokensPerStep = scoresPrompt ? Math.Max(1, PromptLogprobLogitsBudget / VocabSize) : int.MaxValue,
                ReadsPrefixCache = !scoresPrompt,
                HoldsBlocksWhenFinished = request.KvTransfer?.DoRemoteDecode == true,
                KvLoad = KvLoadFor(request),
            };
            sequences[i] = new SequenceState(state, scheduled, new SequenceOutputTracker(samplingParams, CreateDecoder(samplingParams)));
        }
        Admit(state, sequences);
        if (request.Grammar is { Task.IsCompletedSuccessfully: false }) _compiling.Add(state);
        _promptTokensTotal += prompt.Length;
    }

    private void Admit(RequestState state, SequenceState[] sequences)
    {
        int added = 0;
        try
        {
            for (; added < sequences.Length; added++) _scheduler.AddRequest(sequences[added].Request);
        }
        catch
        {
            for (int i = 0; i < added; i++) _scheduler.FinishRequest(sequences[i].Request.RequestId, RequestStatus.FinishedAborted);
            throw;
        }
        state.Sequences = sequences;
        _requests.Add(state.Request.RequestId, state);
        foreach (var seq in sequences) _sequences.Add(seq.Request.RequestId, seq);
    }

    /// <summary>Scheduler id of sample i: the request id itself when n = 1.</summary>
    private static string SequenceId(string requestId, int index, int n) => n == 1 ? requestId : $"{requestId}#{index}";

    private IIncrementalDecoder CreateDecoder(Core.Sampling.SamplingParams samplingParams) =>
        _tokenizer?.CreateIncrementalDecoder(samplingParams.SkipSpecialTokens) ?? NoTextDecoder.Instance;

    /// <summary>Aborts a request: its KV blocks are freed at once; the next <see cref="Step"/> reports it finished ("abort").</summary>
    public bool Abort(string requestId)
    {
        if (!_requests.TryGetValue(requestId, out var state)) return false;
        End(state, null);
        return true;
    }

    /// <summary>
    /// The one way a request leaves outside the step's normal flow: its unfinished sequences are ended ("abort") and
    /// their blocks freed, and an output is queued for <see cref="Step"/> to report, carrying <paramref name="fault"/>
    /// when the request failed. Every per-request fault site (sampling, detokenizing, stop checks) comes here.
    /// </summary>
    private void End(RequestState state, Exception? fault)
    {
        string requestId = state.Request.RequestId;
        if (!_requests.Remove(requestId)) return; // already ended this step
        var deltas = new List<CompletionDelta>();
        foreach (var seq in state.Sequences)
        {
            if (!_sequences.Remove(seq.Request.RequestId)) continue; // finished normally
            _scheduler.FinishRequest(seq.Request.RequestId, RequestStatus.FinishedAborted);
            if (fault is not null || seq.Finished) continue;
            var update = seq.Tracker.Abort();
            deltas.Add(new CompletionDelta(seq.Index, [], "", null, update.FinishReason, update.StopReason));
        }
        _touched.Remove(state);
        state.PendingDeltas.Clear();
        _endedOutputs.Add(new RequestOutput(requestId, state.Sequences[0].Request.NumPromptTokens, state.CachedPromptTokens, deltas,
            Finished: true)
        {
            Error = fault is null ? null : new RequestFailedException(requestId, fault),
        });
    }

    public EngineStats GetStats()
    {
        var kv = _scheduler.KvCache;
        return new EngineStats(_scheduler.NumRunning, _scheduler.NumWaiting, kv.NumBlocks, kv.Pool.NumUsedBlocks,
            kv.PrefixCacheQueries, kv.PrefixCacheHits, _promptTokensTotal, _generationTokensTotal)
        {
            NumPreemptions = _scheduler.NumPreemptions,
            SpecDecoding = Options.Speculative is null ? null : _scheduler.SpecDecoding.Snapshot(),
            BlockSize = kv.BlockSize,
            NumHeldRequests = _leases.Count,
            KvPulled = _kvPulled,
        };
    }

    /// <summary>Decoder for an engine without a tokenizer: token ids only, no text.</summary>
    private sealed class NoTextDecoder : IIncrementalDecoder
    {
        public static readonly NoTextDecoder Instance = new();
        public string Add(int tokenId) => "";
        public string Flush() => "";
    }
}
