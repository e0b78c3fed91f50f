using Loom.Models.Config;

namespace Loom.Models.Definition;

/// <summary>
/// How a decoder family departs from plain Llama, as flags an executor switches on (Llama, Mistral, Qwen2, Qwen3 and
/// Phi-3 are one layer with these).
/// </summary>
public sealed record DecoderFlags
{
    /// <summary>RMSNorm on each head of q and k before RoPE (Qwen3).</summary>
    public bool QkNorm { get; init; }
    /// <summary>q, k, v stored as one qkv_proj tensor (Phi-3).</summary>
    public bool FusedQkv { get; init; }
    /// <summary>gate and up stored as one gate_up_proj tensor (Phi-3).</summary>
    public bool FusedGateUp { get; init; }
    /// <summary>Keys older than this many positions are not attended to (Mistral); null = full attention.</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>rope_scaling (llama3, linear); null = plain RoPE with <see cref="ModelConfig.RopeTheta"/>.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>The lm_head is the embedding matrix (no lm_head.weight in the checkpoint).</summary>
    public bool TiedEmbeddings { get; init; }
    /// <summary>Biases on q/k/v (Qwen2), on o_proj, and on the MLP projections.</summary>
    public bool AttentionBias { get; init; }
    public bool AttentionOutputBias { get; init; }
    public bool MlpBias { get; init; }

    public static DecoderFlags From(ModelConfig config) => new()
    {
        QkNorm = config.QkNorm,
        FusedQkv = config.FusedQkv,
        FusedGateUp = config.FusedGateUp,
        SlidingWindow = config.SlidingWindow,
        RopeScaling = config.RopeScaling,
        TiedEmbeddings = config.TieWordEmbeddings,
        AttentionBias = config.AttentionBias,
        AttentionOutputBias = config.AttentionOutputBias,
        MlpBias = config.MlpBias,
    };
}
