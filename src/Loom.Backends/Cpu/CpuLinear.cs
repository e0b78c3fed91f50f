using Loom.Backends.Cpu.Kernels;
using Loom.Backends.Cpu.Quantized;
using Loom.Models.Weights;

namespace Loom.Backends.Cpu;

/// <summary>
/// A linear layer y = x W^T (+ b) whose weight stays where the weight source keeps it, in its stored precision.
/// <see cref="Create"/> is the dispatch point on the weight's <see cref="DType"/>: dense F32 here, F16/BF16 repacked at
/// load (<see cref="InterleavedHalfLinear"/>), and the
/// quantized GGUF block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q4_K, Q5_K, Q6_K) in Cpu/Quantized.
/// </summary>
public abstract unsafe class CpuLinear
{
    protected CpuLinear(string name, int inFeatures, int outFeatures, float[]? bias)
    {
        Name = name;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Bias = bias;
    }

    /// <summary>The tensor it reads, for messages.</summary>
    public string Name { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }
    /// <summary>[OutFeatures] or null.</summary>
    public float[]? Bias { get; }

    /// <summary>Bytes of weight streamed per forward (what bounds decode speed).</summary>
    public abstract long WeightBytes { get; }

    /// <summary>How many output rows one parallel work item should take (a multiple of the kernel's row block).</summary>
    public virtual int RowGranularity => 4;

    /// <summary>
    /// Output columns [rowStart, rowEnd) for all tokens: y[t * yStride + o] = x[t * xStride ..] · W[o] (+ b[o]).
    /// Called concurrently on disjoint row ranges.
    /// </summary>
    public abstract void ComputeRows(float* x, int xStride, int numTokens, float* y, int yStride, int rowStart, int rowEnd);

    /// <summary>
    /// The quantized forms of the input the kernels read, which <see cref="LinearJob"/> prepares once per launch for
    /// all the layers and row ranges that share that input.
    /// </summary>
    internal virtual InputForms InputForms => InputForms.None;

    /// <summary>
    /// <see cref="ComputeRows(float*, int, int, float*, int, int, int)"/> on an input already prepared in the forms
    /// <see cref="InputForms"/> names; the same bits.
    /// </summary>
    internal virtual void ComputeRows(PreparedInput input, float* y, int yStride, int rowStart, int rowEnd) =>
        ComputeRows(input.X, input.XStride, input.NumTokens, y, yStride, rowStart, rowEnd);

    /// <summary>
    /// The linear layer over rows [rowOffset, rowOffset + rows) of <paramref name="weight"/> (all rows when rows is
    /// null), which is how fused projections such as Phi-3's qkv_proj are split without copying.
    /// </summary>
    public static CpuLinear Create(TensorInfo weight, TensorInfo? bias = null, int rowOffset = 0, int? rows = null)
    {
        if (weight.Shape.Length != 2)
            throw new ArgumentException($"Tensor {weight.Name} in {weight.File} should be 2-D [out, in] but is [{string.Join(", ", weight.Shape)}].");
        long totalRows = weight.Shape[0];
        int inFeatures = checked((int)weight.Shape[1]);
        int outFeatures = rows ?? checked((int)totalRows);
        if (rowOffset < 0 || outFeatures <= 0 || rowOffset + (long)outFeatures > totalRows)
            throw new ArgumentException($"Rows [{rowOffset}, {rowOffset + outFeatures}) are outside tensor {weight.Name} ({totalRows} rows).");
        float[]? biasValues = bias == null ? null : WeightConversion.ToFloatVector(bias, rowOffset, outFeatures);

        return weight.DType switch
        {
            DType.F32 => new DenseLinear<F32Format>(weight, inFeatures, outFeatures, rowOffset, biasValues),
            DType.F16 => InterleavedHalfLinear.CreateF16(weight, inFeatures, outFeatures, rowOffset, biasValues),
            DType.BF16 => InterleavedHalfLinear.CreateBf16(weight, inFeatures, outFeatures, rowOffset, biasValues),
            _ when Quantized.QuantizedLinear.HasKernel(weight.DType) =>
                new Quantized.QuantizedLinear(weight, inFeatures, outFeatures, rowOffset, biasValues),
            _ => throw new NotSupportedException($"Tensor {weight.Name} has dtype {weight.DType}, which cannot be a linear weight."),
        };
    }
}

/// <summary>A dense weight in F32, F16 or BF16 (the format type parameter), read in place.</summary>
internal sealed unsafe class DenseLinear<TFormat> : CpuLinear where TFormat : struct, IRowFormat
{
    private readonly byte* _rows; // [OutFeatures, InFeatures] elements of TFormat

    public DenseLinear(TensorInfo weight, int inFeatures, int outFeatures, int rowOffset, float[]? bias)
        : base(weight.Name, inFeatures, outFeatures, bias)
    {
        long expected = weight.ElementCount * TFormat.BytesPerElement;
        if (weight.ByteLength != expected)
            throw new ArgumentException($"Tensor {weight.Name} in {weight.File} holds {weight.ByteLength} bytes; its shape and dtype need {expected}.");
        _rows = weight.Data + (long)rowOffset * inFeatures * TFormat.BytesPerElement;
    }

    public override long WeightBytes => (long)OutFeatures * InFeatures * TFormat.BytesPerElement;

    public override void ComputeRows(float* x, int xStride, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
    {
        fixed (float* bias = Bias)
            DenseGemm.ComputeRows<TFormat>(_rows, InFeatures, x, xStride, numTokens, y, yStride, rowStart, rowEnd, bias);
    }
}
