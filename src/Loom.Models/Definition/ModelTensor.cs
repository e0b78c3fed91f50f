namespace Loom.Models.Definition;

/// <summary>What a checkpoint tensor is for in the decoder (a bias has its projection's role).</summary>
public enum TensorRole
{
    Embedding,
    InputNorm,
    QProj,
    KProj,
    VProj,
    /// <summary>Phi-3's fused q, k, v projection (rows: q, then k, then v).</summary>
    QkvProj,
    QNorm,
    KNorm,
    OProj,
    PostAttentionNorm,
    GateProj,
    UpProj,
    /// <summary>Phi-3's fused gate and up projection (rows: gate, then up).</summary>
    GateUpProj,
    DownProj,
    FinalNorm,
    LmHead,
}

/// <summary>
/// A tensor a config requires: its Hugging Face name, role and shape (PyTorch order, [out, in] for matrices).
/// Layer is null for the model-level tensors (embedding, final norm, lm_head).
/// </summary>
public sealed record ModelTensor(string Name, TensorRole Role, long[] Shape, int? Layer = null, bool IsBias = false)
{
    /// <summary>RMSNorm weights (a dummy checkpoint starts them at 1).</summary>
    public bool IsNorm => Role is TensorRole.InputNorm or TensorRole.PostAttentionNorm or TensorRole.QNorm
        or TensorRole.KNorm or TensorRole.FinalNorm;
}

/// <summary>
/// A linear layer y = x W^T (+ b) over rows [RowOffset, RowOffset + OutFeatures) of <see cref="Weight"/> (and
/// <see cref="Bias"/>): a fused tensor (qkv_proj, gate_up_proj) is split by rows without copying.
/// </summary>
public sealed record LinearDefinition(ModelTensor Weight, ModelTensor? Bias, int RowOffset, int OutFeatures)
{
    public int InFeatures => checked((int)Weight.Shape[1]);
}
