using Loom.Backends.Cpu.Kernels;
using Loom.Models.Weights;

namespace Loom.Backends.Cpu;

/// <summary>
/// A dense F16 or BF16 weight repacked at load eight rows side by side (<see cref="InterleavedHalfWeights"/>, a copy
/// the size of the tensor; the original stays mapped for embedding lookups) and run by <see cref="InterleavedHalfGemm"/>.
/// An F16 tensor holding an infinity or NaN keeps the in-place <see cref="DenseLinear{TFormat}"/>.
/// </summary>
internal sealed unsafe class InterleavedHalfLinear : CpuLinear
{
    private readonly InterleavedHalfWeights _weights;
    private readonly DType _dtype; // F16 or BF16

    private InterleavedHalfLinear(string name, InterleavedHalfWeights weights, DType dtype, int inFeatures, int outFeatures, float[]? bias)
        : base(name, inFeatures, outFeatures, bias)
    {
        _weights = weights;
        _dtype = dtype;
    }

    /// <summary>
    /// Whole blocks of eight groups (64 rows), the one-token kernel's unit: a range that splits a block makes both
    /// threads stream the whole block. Blocks hold whole pairs and quads too, the prefill tiles' rows. Any range
    /// still works, just less well.
    /// </summary>
    public override int RowGranularity => InterleavedHalfWeights.BlockGroups * InterleavedHalfWeights.GroupRows;

    public override long WeightBytes => (long)OutFeatures * InFeatures * sizeof(ushort);

    /// <summary>Bytes an fp32 copy of these F16 weights would take (0 for BF16, which never makes one).</summary>
    public long WidenableBytes => _dtype == DType.F16 ? 2 * WeightBytes : 0;

    /// <summary>Makes the fp32 copy the batched F16 kernel reads (<see cref="F16Widening"/>); BF16 layers make none.</summary>
    public void WidenF16ToF32()
    {
        if (_dtype == DType.F16) _weights.WidenF16ToF32();
    }

    /// <summary>The repacked F16 layer, or the in-place one when the tensor holds a non-finite value.</summary>
    public static CpuLinear CreateF16(TensorInfo weight, int inFeatures, int outFeatures, int rowOffset, float[]? bias)
    {
        var dense = new DenseLinear<F16Format>(weight, inFeatures, outFeatures, rowOffset, bias); // validates the byte count
        var packed = InterleavedHalfWeights.TryCreateF16(Rows(weight, inFeatures, rowOffset), outFeatures, inFeatures);
        return packed == null ? dense : new InterleavedHalfLinear(weight.Name, packed, DType.F16, inFeatures, outFeatures, bias);
    }

    public static CpuLinear CreateBf16(TensorInfo weight, int inFeatures, int outFeatures, int rowOffset, float[]? bias)
    {
        _ = new DenseLinear<Bf16Format>(weight, inFeatures, outFeatures, rowOffset, bias); // validates the byte count
        var packed = InterleavedHalfWeights.Create(Rows(weight, inFeatures, rowOffset), outFeatures, inFeatures);
        return new InterleavedHalfLinear(weight.Name, packed, DType.BF16, inFeatures, outFeatures, bias);
    }

    private static ushort* Rows(TensorInfo weight, int inFeatures, int rowOffset) => (ushort*)weight.Data + (long)rowOffset * inFeatures;

    public override void ComputeRows(float* x, int xStride, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
    {
        if (_dtype == DType.BF16) InterleavedHalfGemm.ComputeRowsBf16(_weights, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
        else InterleavedHalfGemm.ComputeRowsF16(_weights, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
        if (Bias is not { } bias) return;
        for (int t = 0; t < numTokens; t++)
            for (int o = rowStart; o < rowEnd; o++)
                y[(long)t * yStride + o] += bias[o];
    }
}
