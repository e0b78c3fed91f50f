namespace Loom.Models.Definition;

/// <summary>
/// One decoder layer's weights by role. Q/K/V (and Gate/Up) are row ranges of one tensor when the family stores them
/// fused; QNorm/KNorm exist only with qk-norm.
/// </summary>
public sealed record DecoderLayerDefinition
{
    public required int Index { get; init; }
    public required ModelTensor InputNorm { get; init; }          // [hidden]
    public required LinearDefinition Q { get; init; }             // [numHeads * headDim, hidden]
    public required LinearDefinition K { get; init; }             // [numKvHeads * headDim, hidden]
    public required LinearDefinition V { get; init; }             // [numKvHeads * headDim, hidden]
    public ModelTensor? QNorm { get; init; }                      // [headDim]
    public ModelTensor? KNorm { get; init; }                      // [headDim]
    public required LinearDefinition O { get; init; }             // [hidden, numHeads * headDim]
    public required ModelTensor PostAttentionNorm { get; init; } // [hidden]
    public required LinearDefinition Gate { get; init; }          // [intermediate, hidden]
    public required LinearDefinition Up { get; init; }            // [intermediate, hidden]
    public required LinearDefinition Down { get; init; }          // [hidden, intermediate]

    /// <summary>The checkpoint tensors of this layer in checkpoint order (a fused tensor once, each bias after its weight).</summary>
    public required IReadOnlyList<ModelTensor> Tensors { get; init; }
}
