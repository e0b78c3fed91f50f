using Loom.Models.Weights;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>Reads small stored vectors (norm weights, biases) and embedding rows as fp32.</summary>
internal static unsafe class WeightConversion
{
    /// <summary>Elements [offset, offset + count) of a 1-D tensor, widened to a new fp32 array (load time only).</summary>
    public static float[] ToFloatVector(TensorInfo tensor, int offset = 0, int? count = null)
    {
        int n = count ?? checked((int)tensor.ElementCount);
        if (offset < 0 || offset + (long)n > tensor.ElementCount)
            throw new ArgumentException($"Elements [{offset}, {offset + n}) are outside tensor {tensor.Name} ({tensor.ElementCount} elements).");
        var result = new float[n];
        ReadRow(tensor.DType, tensor.Data, offset, result, tensor.Name);
        return result;
    }

    /// <summary>Writes elements [offset, offset + dst.Length) of a stored vector to <paramref name="dst"/> as fp32.</summary>
    public static void ReadRow(DType dtype, byte* data, long offset, Span<float> dst, string name)
    {
        switch (dtype)
        {
            case DType.F32:
                new ReadOnlySpan<float>((float*)data + offset, dst.Length).CopyTo(dst);
                break;
            case DType.BF16:
            {
                ushort* src = (ushort*)data + offset;
                for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.Int32BitsToSingle(src[i] << 16);
                break;
            }
            case DType.F16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)data + offset, dst.Length), dst);
                break;
            case var quantized when DTypes.IsQuantized(quantized):
                ReadQuantizedRow(dtype, data, offset, dst, name);
                break;
            default:
                throw new NotSupportedException($"Tensor {name} has dtype {dtype}; the CPU backend reads F32, F16, BF16 and the GGUF block types here.");
        }
    }

    /// <summary>A whole-block span of a quantized tensor (an embedding row), decoded to fp32.</summary>
    private static void ReadQuantizedRow(DType dtype, byte* data, long offset, Span<float> dst, string name)
    {
        int block = DTypes.BlockElements(dtype);
        if (offset % block != 0 || dst.Length % block != 0)
            throw new NotSupportedException($"Tensor {name} ({dtype}): elements [{offset}, {offset + dst.Length}) are not whole blocks.");
        long bytes = (long)dst.Length / block * DTypes.BlockBytes(dtype);
        Loom.Models.Gguf.GgmlQuants.Dequantize(dtype, new ReadOnlySpan<byte>(data + offset / block * DTypes.BlockBytes(dtype), checked((int)bytes)), dst);
    }
}
