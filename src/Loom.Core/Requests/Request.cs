using Loom.Core.KvCache;
using Loom.Core.Sampling;

namespace Loom.Core.Requests;

/// <summary>
/// Scheduler-side state of one sequence: its tokens (prompt then outputs, one buffer), how many of them already have
/// KV in the cache, and its place in the queues. The scheduler and KV cache manager are the only writers.
/// There is no prefill or decode phase: a request simply has <c>NumTokens - NumComputedTokens</c> tokens left to run.
/// </summary>
public sealed class Request
{
    private int[] _tokens; // [NumPromptTokens + outputs so far], capacity prompt + min(max_tokens, InitialOutputCapacity), grown by doubling
    /// <summary>Output slots reserved up front: max_tokens is only a limit (it may be int.MaxValue before intake refuses it).</summary>
    private const int InitialOutputCapacity = 256;

    public Request(string requestId, ReadOnlySpan<int> promptTokenIds, SamplingParams samplingParams, int priority = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId, nameof(requestId));
        ArgumentNullException.ThrowIfNull(samplingParams, nameof(samplingParams));
        if (promptTokenIds.IsEmpty) throw new ArgumentException($"Request '{requestId}': the prompt must hold at least one token.", "prompt");
        RequestId = requestId;
        Params = samplingParams;
        Priority = priority;
        NumPromptTokens = promptTokenIds.Length;
        _tokens = new int[promptTokenIds.Length + Math.Clamp(samplingParams.MaxTokens, 1, InitialOutputCapacity)];
        promptTokenIds.CopyTo(_tokens);
        NumTokens = promptTokenIds.Length;
    }

    public string RequestId { get; }
    public SamplingParams Params { get; }
    /// <summary>Lower runs first under priority scheduling.</summary>
    public int Priority { get; }

    /// <summary>Monotonic intake number, assigned by the scheduler; FCFS order and preemption victim choice.</summary>
    public long ArrivalOrder { get; internal set; }

    /// <summary>Whether a scheduler has taken this request in (a request is submitted once).</summary>
    internal bool IsSubmitted { get; set; }

    public RequestStatus Status { get; internal set; } = RequestStatus.Waiting;
    public bool IsFinished => Status.IsFinished();

    public int NumPromptTokens { get; }
    /// <summary>Prompt plus output tokens so far.</summary>
    public int NumTokens { get; private set; }
    public int NumOutputTokens => NumTokens - NumPromptTokens;

    /// <summary>Tokens whose KV is in the cache (or scheduled to be written in the step being run).</summary>
    public int NumComputedTokens { get; internal set; }

    /// <summary>Prompt tokens served from the prefix cache (or shared by a sibling sample) when first scheduled; null before.</summary>
    public int? NumCachedTokens { get; internal set; }

    public int NumPreemptions { get; internal set; }

    /// <summary>
    /// For sample i &gt; 0 of a request with n &gt; 1: the sibling that prefills the shared prompt. This sample waits until
    /// the source's prompt is computed, then shares its full prompt blocks by refcount and recomputes only the tail.
    /// </summary>
    public Request? ForkSource { get; init; }

    /// <summary>Which of the n samples of its parent request this is (0 when n = 1).</summary>
    public int SampleIndex { get; init; }

    /// <summary>The model's end-of-sequence ids: the scheduler stops the request on one (unless ignore_eos).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary>
    /// Most tokens of this request one step may run, even with chunked prefill off (a request whose every prompt
    /// position costs a logits row, such as prompt_logprobs, is capped so a step's rows fit memory).
    /// </summary>
    public int MaxTokensPerStep
    {
        get => _maxTokensPerStep;
        init => _maxTokensPerStep = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxTokensPerStep), value, "A request must be able to run at least one token per step.");
    }
    private readonly int _maxTokensPerStep = int.MaxValue;

    /// <summary>False for a request that must compute every prompt position itself (it scores its prompt).</summary>
    public bool ReadsPrefixCache { get; init; } = true;

    /// <summary>
    /// Keep the KV blocks after the request finishes (stop or length), until <see cref="Scheduling.Scheduler.ReleaseHeldBlocks"/>:
    /// a prefill node holds a prompt's KV this way until a decode node has pulled it (vLLM's <c>do_remote_decode</c>).
    /// An aborted request frees its blocks at once regardless.
    /// </summary>
    public bool HoldsBlocksWhenFinished { get; init; }

    /// <summary>What else a waiting request needs before it may be admitted (a grammar compiling, KV arriving); null = nothing.</summary>
    public IReadinessGate? Gate { get; init; }

    /// <summary>KV of the prompt computed on another instance, pulled before the request is admitted; null = none.</summary>
    public RemoteKvLoad? KvLoad { get; init; }

    /// <summary>
    /// Whether the scheduler may admit it now: its gate is open, its remote KV is not in flight, and a forked sample
    /// waits until its source has computed the prompt it will share (if the source still runs).
    /// </summary>
    internal bool IsReady => (Gate?.IsReady ?? true) && KvLoad?.State != KvLoadState.InFlight &&
        !(ForkSource is { } source && !source.IsFinished && source.NumComputedTokens < source.NumPromptTokens);

    /// <summary>Set once the model runner has been sent this request's prompt and parameters.</summary>
    internal bool IsKnownToRunner { get; set; }

    /// <summary>
    /// vLLM's cache_salt: seeds the block-hash chain, so requests with different salts (tenants) never share prefix-cache
    /// blocks. Null = the unsalted chain every request without a salt shares.
    /// </summary>
    public string? CacheSalt
    {
        get => _cacheSalt;
        init
        {
            _cacheSalt = value;
            RootHash = value is null ? BlockHash.Root : BlockHash.ForSalt(value);
        }
    }
    private readonly string? _cacheSalt;

    /// <summary>Parent hash of this request's first block: the root, or the root of its salt's chain.</summary>
    internal BlockHash RootHash { get; private init; } = BlockHash.Root;

    /// <summary>Prefix-cache hashes of this request's full blocks, computed incrementally by the KV cache manager.</summary>
    internal List<BlockHash> BlockHashes { get; } = [];

    /// <summary>
    /// Draft tokens proposed to follow the last token (speculative decoding), set from the runner's output after a step
    /// and scheduled with the next one; cleared on preemption. Empty without speculation.
    /// </summary>
    public ReadOnlySpan<int> SpecTokenIds => _specTokens.AsSpan(0, NumSpecTokens);
    public int NumSpecTokens { get; private set; }
    private int[] _specTokens = []; // [capacity num_speculative_tokens] reused step after step

    internal void SetSpecTokens(ReadOnlySpan<int> drafts)
    {
        if (drafts.Length > _specTokens.Length) _specTokens = new int[drafts.Length];
        drafts.CopyTo(_specTokens);
        NumSpecTokens = drafts.Length;
    }

    internal void ClearSpecTokens() => NumSpecTokens = 0;

    public ReadOnlySpan<int> AllTokenIds => _tokens.AsSpan(0, NumTokens);
    public ReadOnlySpan<int> PromptTokenIds => _tokens.AsSpan(0, NumPromptTokens);
    public ReadOnlySpan<int> OutputTokenIds => _tokens.AsSpan(NumPromptTokens, NumOutputTokens);

    internal void AppendOutputToken(int tokenId)
    {
        if (NumTokens == _tokens.Length) Array.Resize(ref _tokens, (int)Math.Min(2L * _tokens.Length, Array.MaxLength));
        _tokens[NumTokens++] = tokenId;
    }

    public override string ToString() => $"{RequestId} [{Status}, {NumComputedTokens}/{NumTokens} computed]";
}
