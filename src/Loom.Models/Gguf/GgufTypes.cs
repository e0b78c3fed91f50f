using Loom.Models.Weights;

namespace Loom.Models.Gguf;

/// <summary>Metadata value types of the GGUF format (gguf_type).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9,
    UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>Tensor element types as ggml numbers them (ggml_type); only the ones with a known block layout are listed.</summary>
public enum GgmlType : uint
{
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, IQ4_NL = 20,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30,
}

/// <summary>Block layouts of ggml types and their mapping to <see cref="DType"/>.</summary>
public static class GgmlTypes
{
    /// <summary>(elements per block, bytes per block), or null for a type number this reader does not know.</summary>
    public static (int Elements, int Bytes)? Block(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.I32 => (1, 4),
        GgmlType.F16 or GgmlType.BF16 or GgmlType.I16 => (1, 2),
        GgmlType.F64 or GgmlType.I64 => (1, 8),
        GgmlType.I8 => (1, 1),
        GgmlType.Q4_0 => (32, 18),
        GgmlType.Q4_1 => (32, 20),
        GgmlType.Q5_0 => (32, 22),
        GgmlType.Q5_1 => (32, 24),
        GgmlType.Q8_0 => (32, 34),
        GgmlType.Q8_1 => (32, 36),
        GgmlType.Q2_K => (256, 84),
        GgmlType.Q3_K => (256, 110),
        GgmlType.Q4_K => (256, 144),
        GgmlType.Q5_K => (256, 176),
        GgmlType.Q6_K => (256, 210),
        GgmlType.Q8_K => (256, 292),
        GgmlType.IQ4_NL => (32, 18),
        _ => null,
    };

    /// <summary>The Loom dtype of a ggml type, or null when Loom cannot compute with it.</summary>
    public static DType? ToDType(GgmlType type) => type switch
    {
        GgmlType.F32 => DType.F32, GgmlType.F16 => DType.F16, GgmlType.BF16 => DType.BF16,
        GgmlType.Q8_0 => DType.Q8_0, GgmlType.Q4_0 => DType.Q4_0, GgmlType.Q4_K => DType.Q4_K, GgmlType.Q6_K => DType.Q6_K,
        GgmlType.Q4_1 => DType.Q4_1, GgmlType.Q5_0 => DType.Q5_0, GgmlType.Q5_1 => DType.Q5_1,
        GgmlType.IQ4_NL => DType.IQ4_NL, GgmlType.Q5_K => DType.Q5_K,
        GgmlType.F64 => DType.F64, GgmlType.I64 => DType.I64, GgmlType.I32 => DType.I32, GgmlType.I16 => DType.I16,
        GgmlType.I8 => DType.I8,
        _ => null,
    };

    public static GgmlType FromDType(DType dtype) => dtype switch
    {
        DType.F32 => GgmlType.F32, DType.F16 => GgmlType.F16, DType.BF16 => GgmlType.BF16,
        DType.Q8_0 => GgmlType.Q8_0, DType.Q4_0 => GgmlType.Q4_0, DType.Q4_K => GgmlType.Q4_K, DType.Q6_K => GgmlType.Q6_K,
        DType.Q4_1 => GgmlType.Q4_1, DType.Q5_0 => GgmlType.Q5_0, DType.Q5_1 => GgmlType.Q5_1,
        DType.IQ4_NL => GgmlType.IQ4_NL, DType.Q5_K => GgmlType.Q5_K,
        DType.F64 => GgmlType.F64, DType.I64 => GgmlType.I64, DType.I32 => GgmlType.I32, DType.I16 => GgmlType.I16,
        DType.I8 => GgmlType.I8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "no GGUF equivalent"),
    };
}
