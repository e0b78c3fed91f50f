using System.Numerics.Tensors;
using Loom.Models.Gguf;
using Loom.Models.Weights;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// A linear layer over a GGUF-quantized weight read in place. Q8_0 and Q4_0 rows are multiplied block by block in
/// integers against Q8-quantized activations (<see cref="QuantizedGemm"/>, llama.cpp's scheme); Q4_K and Q6_K rows
/// are decoded once per row into a per-thread fp32 buffer and then shared by all tokens of the step. Each weight row
/// is read from memory once per step for all tokens.
/// </summary>
internal sealed unsafe class QuantizedLinear : CpuLinear
{
    [ThreadStatic] private static float[]? t_rowBuffer;

    private readonly byte* _rows;     // [OutFeatures] rows of RowBytes each
    private readonly long _rowBytes;
    private readonly DType _dtype;

    public QuantizedLinear(TensorInfo weight, int inFeatures, int outFeatures, int rowOffset, float[]? bias)
        : base(weight.Name, inFeatures, outFeatures, bias)
    {
        _dtype = weight.DType;
        int blockElements = DTypes.BlockElements(_dtype);
        if (inFeatures % blockElements != 0)
            throw new ArgumentException($"Tensor {weight.Name} ({_dtype}) has rows of {inFeatures} values, not whole {blockElements}-value blocks.");
        _rowBytes = (long)inFeatures / blockElements * DTypes.BlockBytes(_dtype);
        if (weight.ByteLength != _rowBytes * weight.Shape[0])
            throw new ArgumentException($"Tensor {weight.Name} in {weight.File} holds {weight.ByteLength} bytes; {_dtype} [{weight.Shape[0]}, {inFeatures}] needs {_rowBytes * weight.Shape[0]}.");
        _rows = weight.Data + rowOffset * _rowBytes;
    }

    public override long WeightBytes => OutFeatures * _rowBytes;

    public override void ComputeRows(float* x, int xStride, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
    {
        switch (_dtype)
        {
            case DType.Q8_0: ComputeBlockRows<Q8_0Block>(x, xStride, numTokens, y, yStride, rowStart, rowEnd); break;
            case DType.Q4_0: ComputeBlockRows<Q4_0Block>(x, xStride, numTokens, y, yStride, rowStart, rowEnd); break;
            default: ComputeDecodedRows(x, xStride, numTokens, y, yStride, rowStart, rowEnd); break;
        }
    }

    /// <summary>
    /// Quantizes the inputs (each concurrent row range does so into its own thread's scratch: a few thousand values
    /// per token, about 1 % of the range's multiply-adds), then runs the integer kernel and adds the bias.
    /// </summary>
    private void ComputeBlockRows<TBlock>(float* x, int xStride, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
        where TBlock : struct, IQuantBlock
    {
        var activations = Q8Activations.ForThisThread();
        activations.Quantize(x, xStride, numTokens, InFeatures);
        QuantizedGemm.ComputeRows<TBlock>(_rows, _rowBytes, InFeatures, activations, numTokens, y, yStride, rowStart, rowEnd);
        if (Bias is { } bias)
            for (int t = 0; t < numTokens; t++)
                for (int o = rowStart; o < rowEnd; o++)
                    y[(long)t * yStride + o] += bias[o];
    }

    private void ComputeDecodedRows(float* x, int xStride, int numTokens, float* y, int yStride, int rowStart, int rowEnd)
    {
        var buffer = t_rowBuffer;
        if (buffer == null || buffer.Length < InFeatures) t_rowBuffer = buffer = new float[InFeatures];
        var decoded = buffer.AsSpan(0, InFeatures);
        for (int o = rowStart; o < rowEnd; o++)
        {
            GgmlQuants.Dequantize(_dtype, new ReadOnlySpan<byte>(_rows + o * _rowBytes, (int)_rowBytes), decoded);
            float bias = Bias?[o] ?? 0f;
            for (int t = 0; t < numTokens; t++)
                y[(long)t * yStride + o] = TensorPrimitives.Dot(decoded, new ReadOnlySpan<float>(x + (long)t * xStride, InFeatures)) + bias;
        }
    }
}
