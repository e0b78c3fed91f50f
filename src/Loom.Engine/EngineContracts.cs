using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Engine.Output;
using Loom.Core.Scheduling;

namespace Loom.Engine;

/// <summary>What a front end (server, CLI, IChatClient) submits.</summary>
public sealed record EngineRequest(string RequestId, IReadOnlyList<int> PromptTokenIds, SamplingParams Params)
{
    /// <summary>Lower runs first when priority scheduling is on; FCFS within a level.</summary>
    public int Priority { get; init; }

    /// <summary>vLLM's cache_salt: requests share prefix-cache blocks only with requests of the same salt (null = none).</summary>
    public string? CacheSalt { get; init; }

    /// <summary>
    /// The grammar every sample must follow (structured output), compiled or compiling: the request waits behind it
    /// while its masks compile, then each sequence gets its own matcher. Null = unconstrained.
    /// </summary>
    public StructuredOutput.GrammarCompilation? Grammar { get; init; }

    /// <summary>Prefill/decode disaggregation (vLLM's kv_transfer_params); null = an ordinary request.</summary>
    public KvTransfer.KvTransferRequest? KvTransfer { get; init; }
}

/// <summary>State of one of the n completions of a request, as a delta since the last output.</summary>
/// <param name="FinishReason">Why it ended, on its last delta; null while running.</param>
/// <param name="StopReason">The stop string or stop token id that ended it, if any.</param>
public sealed record CompletionDelta(
    int Index,
    IReadOnlyList<int> NewTokenIds,
    string NewText,
    IReadOnlyList<TokenLogprob>? NewLogprobs,
    FinishReason? FinishReason,
    StopReason StopReason = default);

/// <summary>One engine step's news for one request.</summary>
/// <param name="CachedPromptTokens">Prompt tokens served from the prefix cache.</param>
public sealed record RequestOutput(
    string RequestId,
    int PromptTokens,
    int CachedPromptTokens,
    IReadOnlyList<CompletionDelta> Deltas,
    bool Finished)
{
    /// <summary>
    /// With prompt_logprobs: one entry per prompt token (the first is null), in the request's first output only.
    /// </summary>
    public IReadOnlyList<TokenLogprob?>? PromptLogprobs { get; init; }

    /// <summary>
    /// Set on the last output of a request the engine had to end because processing it failed (its KV blocks are
    /// freed; every other request runs on). <see cref="AsyncLlm"/> ends the request's stream with it.
    /// </summary>
    public RequestFailedException? Error { get; init; }

    /// <summary>On the last output of a do_remote_decode request: the blocks held for a decode instance to pull.</summary>
    public KvTransfer.HeldKvBlocks? HeldKv { get; init; }
}

/// <summary>A request the engine ended because something failed while serving it alone (not the engine as a whole).</summary>
public sealed class RequestFailedException(string requestId, Exception cause)
    : Exception($"Request '{requestId}' failed in the engine: {cause.Message}", cause)
{
    public string RequestId { get; } = requestId;
}

/// <summary>The engine loop stopped on a fault that may have corrupted shared state (KV pool, executor); nothing runs any more.</summary>
public sealed class EngineDeadException(Exception cause)
    : InvalidOperationException("The engine loop has failed: " + cause.Message, cause);

/// <summary>Counters and gauges the server exports on /metrics.</summary>
public sealed record EngineStats(
    int NumRunning,
    int NumWaiting,
    int NumBlocksTotal,
    int NumBlocksUsed,
    long PrefixCacheQueries,
    long PrefixCacheHits,
    long PromptTokensTotal,
    long GenerationTokensTotal)
{
    /// <summary>Requests preempted (KV freed, recomputed later) since start.</summary>
    public long NumPreemptions { get; init; }

    /// <summary>Speculative decoding counters (vLLM's spec_decode_*); null when speculation is off.</summary>
    public SpecDecodingSnapshot? SpecDecoding { get; init; }

    /// <summary>Tokens per KV block (0 = unknown); a router hashes prompts in blocks of this size to predict cache hits.</summary>
    public int BlockSize { get; init; }

    /// <summary>Finished prefill requests whose KV blocks are held for a decode instance (under a lease).</summary>
    public int NumHeldRequests { get; init; }

    /// <summary>Remote KV pulled into this cache since start (decode side of P/D): what the requests' own prefix hits did not cover.</summary>
    public KvPullTotals KvPulled { get; init; }
}

/// <summary>Pulls of remote KV that landed: requests, blocks and bytes (in the cache's own dtype).</summary>
public readonly record struct KvPullTotals(long Requests, long Blocks, long Bytes);

/// <summary>
/// The asynchronous engine front: the loop runs on its own thread; each request streams its outputs.
/// Cancelling the token aborts the request and frees its KV blocks at once.
/// </summary>
public interface IEngineClient
{
    IAsyncEnumerable<RequestOutput> GenerateAsync(EngineRequest request, CancellationToken cancellationToken = default);

    EngineStats GetStats();

    /// <summary>Null while the engine runs; the fault that stopped its loop for good otherwise (health checks read it).</summary>
    EngineDeadException? Fault => null;

    /// <summary>Completes (with the fault) when the engine loop stops for good on a fault; never for a clean shutdown.</summary>
    Task<EngineDeadException> Died => new TaskCompletionSource<EngineDeadException>().Task;
}
