namespace Loom.Models.Definition;

/// <summary>
/// One operation of a decoder layer, over all tokens of a batch. The layer is pre-norm:
/// h = x + attn(norm(x)); out = h + mlp(norm(h)). Each step names what it reads and writes, so an executor maps the
/// order to its own buffers: hidden (the residual stream), normed, q/k/v, attention, projected, gate/up.
/// </summary>
public enum LayerStep
{
    /// <summary>normed = rmsnorm(hidden) with input_layernorm.</summary>
    InputNorm,
    /// <summary>q, k, v = normed · [Q|K|V]^T (+ biases).</summary>
    QkvProjection,
    /// <summary>q, k = rmsnorm per head with q_norm / k_norm (qk-norm families only).</summary>
    QkNorm,
    /// <summary>q, k rotated by their positions (the rope scaling of the family).</summary>
    Rope,
    /// <summary>k, v of the new tokens stored in their slots of the paged KV cache.</summary>
    KvCacheWrite,
    /// <summary>attention = softmax(q · cached k^T) · cached v per query head (within the sliding window if any).</summary>
    Attention,
    /// <summary>projected = attention · O^T (+ bias).</summary>
    OutputProjection,
    /// <summary>hidden += projected.</summary>
    ResidualAdd,
    /// <summary>normed = rmsnorm(hidden) with post_attention_layernorm.</summary>
    PostAttentionNorm,
    /// <summary>gate, up = normed · [Gate|Up]^T (+ biases).</summary>
    GateUpProjection,
    /// <summary>gate = silu(gate) * up.</summary>
    SiluMul,
    /// <summary>projected = gate · Down^T (+ bias).</summary>
    DownProjection,
}
