using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.Models.Weights;

namespace Loom.Engine.Loading;

/// <summary>How <see cref="ModelLoader"/> turns a model directory into a runnable model.</summary>
public sealed record LoaderOptions
{
    /// <summary>"cpu", or "auto" (the best backend available; the CPU for now).</summary>
    public string Backend { get; init; } = "auto";
    /// <summary>Random (seeded) weights of the config's shapes instead of the checkpoint: config.json alone suffices.</summary>
    public bool DummyWeights { get; init; }
    /// <summary>Element type of dummy weights; null = the config's torch_dtype (bfloat16 when absent).</summary>
    public DType? DummyWeightsDType { get; init; }
    public int DummyWeightsSeed { get; init; }
    /// <summary>
    /// Q8_0 or Q4_0: quantize the checkpoint's matrices while loading (<see cref="QuantizedWeightSource"/>, the rule and
    /// rounding of a GGUF export); null = compute with the stored types.
    /// </summary>
    public DType? Quantization { get; init; }
    /// <summary>
    /// Whether tokenizer.json must be present. Callers that feed token ids only (--prompt-ids, benchmarks) may turn this
    /// off; a directory without tokenizer files then loads with <see cref="LoadedModel.Tokenizer"/> null.
    /// </summary>
    public bool RequireTokenizer { get; init; } = true;
    /// <summary>
    /// Size the KV cache for this many tokens (capped at the max model length) instead of by bytes or memory fraction:
    /// what a single-request caller such as `loom generate` wants.
    /// </summary>
    public int? KvCacheTokens { get; init; }
    /// <summary>KV cache sizing (bytes or memory fraction), block size and max model length.</summary>
    public EngineOptions Engine { get; init; } = new();
    /// <summary>Threads for the CPU backend; null = all cores.</summary>
    public int? NumThreads { get; init; }
    /// <summary>Whether the CPU backend keeps an fp32 copy of F16 weights for batched shapes (<see cref="F16Widening"/>).</summary>
    public F16Widening F16Widening { get; init; } = F16Widening.Auto;
    /// <summary>Bytes per KV block of a draft model sharing the cache's blocks: the budget pays for both caches.</summary>
    internal long DraftKvBytesPerBlock { get; init; }
    /// <summary>The exact KV cache (a draft model's: the target's block count and size) instead of a planned one.</summary>
    internal KvCacheSpec? FixedKvCache { get; init; }
    /// <summary>Receives one-line progress notes (e.g. the KV cache size in blocks and tokens).</summary>
    public Action<string>? Log { get; init; }
}
