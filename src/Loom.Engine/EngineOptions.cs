using Loom.Backends;
using Loom.Engine.Speculative;

namespace Loom.Engine;

/// <summary>Engine-wide settings (vLLM's names in comments). Validated by the engine at start.</summary>
public sealed record EngineOptions
{
    /// <summary>--max-num-seqs: most sequences in one step.</summary>
    public int MaxNumSeqs { get; init; } = 64;
    /// <summary>
    /// --max-num-batched-tokens: token budget of one step (prefill chunks + decodes); null = <see cref="StepTokenBudget"/>'s
    /// default.
    /// </summary>
    public int? MaxNumBatchedTokens { get; init; }

    /// <summary>
    /// The engine's default budget with chunked prefill (offline commands, the in-process engine; `loom serve` uses
    /// <see cref="DefaultServingStepTokens"/>): chosen when a step of 512 prompt tokens took 2.5–3 s on two cores, to keep
    /// steps short; at 64 and 2048 offline throughput measured level within noise since (docs/perf.md, "The step budget").
    /// </summary>
    public const int DefaultChunkedStepTokens = 64;

    /// <summary>
    /// `loom serve`'s budget with chunked prefill unless told otherwise, vLLM's online default and llama-server's
    /// n_batch: every waiting prompt of a wave goes whole into one step, so the users of a wave decode in lockstep and
    /// prompt work lands on few inter-token gaps. Measured against the step-time target it replaced (250 ms, which
    /// spreads prompts over many decode steps), 16 users in closed loop: higher throughput and a p99 inter-token
    /// latency level with or below llama-server's, for a longer mean time to first token; with users arriving one by
    /// one the target keeps the inter-token tail shorter, which is why it stays an option (docs/perf.md, "The step budget").
    /// </summary>
    public const int DefaultServingStepTokens = 2048;

    /// <summary>The default without chunked prefill, where a prompt must fit one step whole.</summary>
    public const int DefaultWholePromptStepTokens = 512;

    /// <summary>
    /// The default cap with chunked prefill when <see cref="StepTimeTarget"/> is set: the time control bounds how long a
    /// step takes, so the cap only bounds the step's buffers, and a fast model gets large, efficient steps.
    /// </summary>
    public const int DefaultTimedStepTokens = 512;

    /// <summary>
    /// The token budget of one step in force (the most tokens a step may hold): <see cref="MaxNumBatchedTokens"/>, else
    /// the default for the chunking mode and step-time control.
    /// </summary>
    public int StepTokenBudget => MaxNumBatchedTokens ?? (!EnableChunkedPrefill ? DefaultWholePromptStepTokens
        : StepTimeTarget is null ? DefaultChunkedStepTokens : DefaultTimedStepTokens);

    /// <summary>
    /// --step-time-target-ms: while some request is decoding, shrink each step's token budget (never below the running
    /// requests plus <see cref="StepTimeBudget.MinPromptTokens"/>) so that its measured duration stays near this
    /// (<see cref="StepTimeBudget"/>); null = a fixed budget.
    /// Needs chunked prefill (without it a prompt must run whole).
    /// </summary>
    public TimeSpan? StepTimeTarget { get; init; }

    /// <summary>--max-model-len: prompt + output limit; null = the model's max_position_embeddings.</summary>
    public int? MaxModelLen { get; init; }
    /// <summary>Tokens per KV block.</summary>
    public int BlockSize { get; init; } = 16;
    /// <summary>--kv-cache-memory: KV cache size in bytes; null = use KvCacheMemoryFraction.</summary>
    public long? KvCacheBytes { get; init; }
    /// <summary>--kv-cache-dtype: element type of cached keys and values (bf16 fits twice the tokens in the same bytes).</summary>
    public KvCacheDType KvCacheDType { get; init; } = KvCacheDType.Float32;
    /// <summary>Fraction of available memory for the KV cache when KvCacheBytes is null.</summary>
    public double KvCacheMemoryFraction { get; init; } = 0.1;
    public bool EnablePrefixCaching { get; init; } = true;
    public bool EnableChunkedPrefill { get; init; } = true;
    /// <summary>Schedule by EngineRequest.Priority (lower first), FCFS within a level.</summary>
    public bool PriorityScheduling { get; init; }
    /// <summary>--speculative-config: draft proposer and tokens verified per step; null = no speculative decoding.</summary>
    public SpeculativeConfig? Speculative { get; init; }
    /// <summary>
    /// --kv-lease-timeout: how long a finished do_remote_decode request holds its blocks for a decode instance that does
    /// not pull them (vLLM's VLLM_NIXL_ABORT_REQUEST_TIMEOUT, 480 s).
    /// </summary>
    public TimeSpan KvLeaseTimeout { get; init; } = TimeSpan.FromSeconds(480);
    /// <summary>
    /// vLLM's kv_events_config enable_kv_cache_events: record every block the prefix cache stores or removes, published
    /// per step as numbered batches (the server streams them to routers on its KV service port).
    /// </summary>
    public bool EnableKvCacheEvents { get; init; }
    /// <summary>Check block accounting whenever the engine goes idle; a violation throws (tests turn this on).</summary>
    public bool IdleSelfCheck { get; init; }
}
