namespace Loom.Models.Config;

/// <summary>
/// The architecture hyper-parameters of a decoder-only transformer, read from a Hugging Face config.json
/// (or GGUF metadata). One class for every supported family: Llama, Mistral, Qwen2, Qwen3 and Phi-3 differ in flags.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>e.g. "LlamaForCausalLM".</summary>
    public required string Architecture { get; init; }
    public required string ModelType { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    /// <summary>Per-head dimension; may differ from HiddenSize / NumAttentionHeads (Qwen3).</summary>
    public required int HeadDim { get; init; }
    public float RmsNormEps { get; init; } = 1e-6f;
    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    /// <summary>Keys older than this many positions are not attended to (Mistral); null = full attention.</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>Bias on q/k/v projections (Qwen2, or Llama's attention_bias).</summary>
    public bool AttentionBias { get; init; }
    /// <summary>Bias on the attention output projection (Llama attention_bias also adds it).</summary>
    public bool AttentionOutputBias { get; init; }
    public bool MlpBias { get; init; }
    /// <summary>RMSNorm on each head of q and k before RoPE (Qwen3).</summary>
    public bool QkNorm { get; init; }
    /// <summary>Phi-3 stores qkv_proj and gate_up_proj fused.</summary>
    public bool FusedQkv { get; init; }
    public bool FusedGateUp { get; init; }
    public bool TieWordEmbeddings { get; init; }
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>Stored dtype as declared by the checkpoint ("bfloat16", "float16", "float32").</summary>
    public string? TorchDtype { get; init; }

    public int QSize => NumAttentionHeads * HeadDim;
    public int KvSize => NumKeyValueHeads * HeadDim;
}

/// <summary>rope_scaling / rope_parameters. Type is "default", "linear" or "llama3".</summary>
public sealed record RopeScaling(string Type, double Factor = 1.0, double LowFreqFactor = 1.0, double HighFreqFactor = 4.0,
    int? OriginalMaxPositionEmbeddings = null);
