using Loom.Backends.Cpu.Kernels;
using Loom.Models.Weights;

namespace Loom.Backends.Cpu;

/// <summary>
/// A dense F16 weight repacked at load eight rows side by side (<see cref="InterleavedF16Weights"/>, a copy the size
/// of the tensor) and run by <see cref="InterleavedF16Gemm"/>; a tensor holding an infinity or NaN keeps the in-place
/// <see cref="DenseLinear{TFormat}"/>.
/// </summary>
internal sealed unsafe class InterleavedF16Linear : CpuLinear
{
    private readonly InterleavedF16Weights _weights;

    private InterleavedF16Linear(string name, InterleavedF16Weights weights, int inFeatures, int outFeatures, float[]? bias)
        : base(name, inFeatures, outFeatures, bias) => _weights = weights;

    /// <summary>Whole pairs of groups, the prefill tile's rows (any range still works, just less well).</summary>
    public override int RowGranularity => 2 * InterleavedF16Weights.GroupRows;

    public override long WeightBytes => (long)OutFeatures * InFeatures * sizeof(ushort);

    /// <summary>The repacked layer, or the in-place one when the tensor holds a non-finite value.</summary>
    public static CpuLinear Create(TensorInfo weight, int inFeatures, int outFeatures, int rowOffset, float[]? bias)
    {
        var dense = new DenseLinear<F16Format>(weight, inFeatures, outFeatures, rowOffset, bias); // validates the byte count
        ushort* rows = (ushort*)weight.Data + (long)rowOffset * inFeatures;
        var packed = InterleavedF16Weights.TryCreate(rows, outFeatures, inFeatures);
        return packed == null ? dense : new InterleavedF16Linear(weight.Name, packed, inFeatures, outFeatures, bias);
    }

    public override void ComputeRows(float* x, int xStride, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
    {
        InterleavedF16Gemm.ComputeRows(_weights, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
        if (Bias is not { } bias) return;
        for (int t = 0; t < numTokens; t++)
            for (int o = rowStart; o < rowEnd; o++)
                y[(long)t * yStride + o] += bias[o];
    }
}
