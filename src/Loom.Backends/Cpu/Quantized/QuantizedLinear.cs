using Loom.Backends.Cpu.Kernels;
using Loom.Models.Weights;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// A linear layer over a GGUF-quantized weight, multiplied block by block in integers against quantized
/// activations, as llama.cpp does: the 32-value types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL) against Q8 activations
/// (<see cref="QuantizedGemm"/>), the K-quants (Q4_K, Q5_K, Q6_K) against Q8_K activations (<see cref="InterleavedSuperBlockGemm"/>).
/// Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 are repacked at load eight rows side by side (<see cref="InterleavedWeights"/>, a
/// copy the size of the tensor; the original stays mapped for embedding lookups) and run by <see cref="InterleavedGemm"/>;
/// the K-quants are unpacked and repacked so too (<see cref="InterleavedSuperBlocks"/>); IQ4_NL runs in place.
/// Each weight row is read from memory once per step for all tokens.
/// </summary>
internal sealed unsafe class QuantizedLinear : CpuLinear
{
    private readonly byte* _rows;     // [OutFeatures] rows of RowBytes each
    private readonly long _rowBytes;
    private readonly DType _dtype;
    private readonly InterleavedWeights? _interleaved; // rows repacked eight side by side, or null (other types, or a non-finite scale)
    private readonly InterleavedSuperBlocks? _superBlocks; // K-quant rows unpacked and repacked eight side by side, or null

    public QuantizedLinear(TensorInfo weight, int inFeatures, int outFeatures, int rowOffset, float[]? bias)
        : base(weight.Name, inFeatures, outFeatures, bias)
    {
        _dtype = weight.DType;
        if (!HasKernel(_dtype))
            throw new NotSupportedException($"Tensor {weight.Name} has dtype {_dtype}, which has no quantized CPU kernel.");
        int blockElements = DTypes.BlockElements(_dtype);
        if (inFeatures % blockElements != 0)
            throw new ArgumentException($"Tensor {weight.Name} ({_dtype}) has rows of {inFeatures} values, not whole {blockElements}-value blocks.");
        _rowBytes = (long)inFeatures / blockElements * DTypes.BlockBytes(_dtype);
        if (weight.ByteLength != _rowBytes * weight.Shape[0])
            throw new ArgumentException($"Tensor {weight.Name} in {weight.File} holds {weight.ByteLength} bytes; {_dtype} [{weight.Shape[0]}, {inFeatures}] needs {_rowBytes * weight.Shape[0]}.");
        _rows = weight.Data + rowOffset * _rowBytes;
        if (InterleavedLayout.For(_dtype) is { } layout)
            _interleaved = InterleavedWeights.TryCreate(_rows, _rowBytes, outFeatures, inFeatures / 32, layout);
        _superBlocks = _dtype switch
        {
            DType.Q4_K => InterleavedSuperBlocks.Create<Q4_KBlock>(_rows, _rowBytes, outFeatures, inFeatures / 256, hasHighBits: false),
            DType.Q5_K => InterleavedSuperBlocks.Create<Q5_KBlock>(_rows, _rowBytes, outFeatures, inFeatures / 256, hasHighBits: true),
            DType.Q6_K => InterleavedSuperBlocks.Create<Q6_KBlock>(_rows, _rowBytes, outFeatures, inFeatures / 256, hasHighBits: true),
            _ => null,
        };
    }

    /// <summary>
    /// Whole groups of eight rows for the interleaved kernels, pairs of groups where the 512-bit kernels run (a group
    /// without a partner runs at half width); any range still works, just less well.
    /// </summary>
    public override int RowGranularity =>
        _superBlocks != null || _interleaved != null ? (CpuIsa.Avx512 ? 2 : 1) * InterleavedWeights.GroupRows : base.RowGranularity;

    /// <summary>The quantized types these kernels compute with.</summary>
    public static bool HasKernel(DType dtype) => dtype is DType.Q8_0 or DType.Q4_0 or DType.Q4_1 or DType.Q5_0 or DType.Q5_1
        or DType.IQ4_NL or DType.Q4_K or DType.Q5_K or DType.Q6_K;

    public override long WeightBytes => OutFeatures * _rowBytes;

    internal override InputForms InputForms => _superBlocks != null ? InputForms.Q8K : InputForms.Q8;

    /// <summary>
    /// Quantizes the inputs into this thread's scratch, then runs the integer kernel (a layer run alone: a
    /// <see cref="LinearJob"/> quantizes once per launch instead).
    /// </summary>
    public override void ComputeRows(float* x, int xStride, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
    {
        if (_superBlocks != null)
        {
            var q8k = Q8KActivations.ForThisThread();
            q8k.Quantize(x, xStride, numTokens, InFeatures);
            Compute(null, q8k, numTokens, y, yStride, rowStart, rowEnd);
        }
        else
        {
            var q8 = Q8Activations.ForThisThread();
            q8.Quantize(x, xStride, numTokens, InFeatures);
            Compute(q8, null, numTokens, y, yStride, rowStart, rowEnd);
        }
    }

    internal override void ComputeRows(PreparedInput input, float* y, int yStride, int rowStart, int rowEnd) =>
        Compute(input.Q8, input.Q8K, input.NumTokens, y, yStride, rowStart, rowEnd);

    /// <summary>The kernel for the weight's type on activations quantized in the form <see cref="InputForms"/> names.</summary>
    private void Compute(Q8Activations? q8, Q8KActivations? q8k, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
    {
        switch (_dtype)
        {
            case DType.Q8_0 when _interleaved != null: InterleavedGemm.ComputeRows<Q8_0x8>(_interleaved, q8!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q4_0 when _interleaved != null: InterleavedGemm.ComputeRows<Nibblesx8<Q4_0Format>>(_interleaved, q8!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q4_1 when _interleaved != null: InterleavedGemm.ComputeRows<Nibblesx8<Q4_1Format>>(_interleaved, q8!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q5_0 when _interleaved != null: InterleavedGemm.ComputeRows<Nibblesx8<Q5_0Format>>(_interleaved, q8!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q5_1 when _interleaved != null: InterleavedGemm.ComputeRows<Nibblesx8<Q5_1Format>>(_interleaved, q8!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q8_0: ComputeBlockRows<Q8_0Block>(q8!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q4_0: ComputeBlockRows<Q4_0Block>(q8!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q4_1: ComputeBlockRows<Q4_1Block>(q8!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q5_0: ComputeBlockRows<Q5_0Block>(q8!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q5_1: ComputeBlockRows<Q5_1Block>(q8!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.IQ4_NL: ComputeBlockRows<IQ4_NLBlock>(q8!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q4_K: InterleavedSuperBlockGemm.ComputeRows<Q4_KFormat>(_superBlocks!, q8k!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q5_K: InterleavedSuperBlockGemm.ComputeRows<Q5_KFormat>(_superBlocks!, q8k!, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q6_K: InterleavedSuperBlockGemm.ComputeRows<Q6_KFormat>(_superBlocks!, q8k!, numTokens, y, yStride, rowStart, rowEnd); break;
        }
        AddBias(numTokens, y, yStride, rowStart, rowEnd);
    }

    private void ComputeBlockRows<TBlock>(Q8Activations activations, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
        where TBlock : struct, IQuantBlock =>
        QuantizedGemm.ComputeRows<TBlock>(_rows, _rowBytes, InFeatures, activations, numTokens, y, yStride, rowStart, rowEnd);

    private void AddBias(int numTokens, float* y, int yStride, int rowStart, int rowEnd)
    {
        if (Bias is not { } bias) return;
        for (int t = 0; t < numTokens; t++)
            for (int o = rowStart; o < rowEnd; o++)
                y[(long)t * yStride + o] += bias[o];
    }
}
