namespace Loom.Models.Definition;

/// <summary>
/// The Hugging Face tensor names of the supported decoder families, the one place they are spelled: whole names for
/// the model-level tensors, and the parts after "model.layers.{i}." for the per-layer ones (projections without their
/// ".weight"/".bias" ending, norms with it). <see cref="ModelDefinition"/> builds a config's full list from them.
/// </summary>
public static class HfTensorNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public const string InputNorm = "input_layernorm.weight";
    public const string PostAttentionNorm = "post_attention_layernorm.weight";
    public const string QProj = "self_attn.q_proj";
    public const string KProj = "self_attn.k_proj";
    public const string VProj = "self_attn.v_proj";
    public const string OProj = "self_attn.o_proj";
    public const string QkvProj = "self_attn.qkv_proj";
    public const string QNorm = "self_attn.q_norm.weight";
    public const string KNorm = "self_attn.k_norm.weight";
    public const string GateProj = "mlp.gate_proj";
    public const string UpProj = "mlp.up_proj";
    public const string GateUpProj = "mlp.gate_up_proj";
    public const string DownProj = "mlp.down_proj";

    public const string WeightSuffix = ".weight";
    public const string BiasSuffix = ".bias";

    /// <summary>"model.layers.{layer}.{suffix}", e.g. Layer(3, QProj + ".weight").</summary>
    public static string Layer(int layer, string suffix) => $"model.layers.{layer}.{suffix}";

    /// <summary>Buffers that checkpoints sometimes carry but that are recomputed, not loaded.</summary>
    public static bool IsIgnored(string name) => name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal);
}
