namespace Loom.Models.Weights;

/// <summary>Storage sizes and file-format names of <see cref="DType"/>s.</summary>
public static class DTypes
{
    /// <summary>Elements per storage block: 1 for plain types, 32 or 256 for GGUF block formats.</summary>
    public static int BlockElements(DType dtype) => dtype switch
    {
        DType.Q8_0 or DType.Q4_0 or DType.Q4_1 or DType.Q5_0 or DType.Q5_1 or DType.IQ4_NL => 32,
        DType.Q4_K or DType.Q5_K or DType.Q6_K => 256,
        _ => 1,
    };

    /// <summary>Bytes per storage block (per element for plain types).</summary>
    public static int BlockBytes(DType dtype) => dtype switch
    {
        DType.F64 or DType.I64 => 8,
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 or DType.I16 => 2,
        DType.I8 or DType.U8 or DType.Bool => 1,
        DType.Q8_0 => 34,   // f16 scale + 32 x int8
        DType.Q4_0 => 18,   // f16 scale + 32 x 4-bit
        DType.Q4_1 => 20,   // f16 scale + f16 min + 32 x 4-bit
        DType.Q5_0 => 22,   // f16 scale + 32 high bits + 32 x 4-bit
        DType.Q5_1 => 24,   // f16 scale + f16 min + 32 high bits + 32 x 4-bit
        DType.IQ4_NL => 18, // f16 scale + 32 x 4-bit indices into a fixed non-linear table
        DType.Q4_K => 144,  // 2 x f16 + 12 bytes of 6-bit scales + 128 bytes of 4-bit quants
        DType.Q5_K => 176,  // 2 x f16 + 12 bytes of 6-bit scales + 32 bytes of high bits + 128 bytes of 4-bit quants
        DType.Q6_K => 210,  // 128 low nibbles + 64 high bits + 16 int8 scales + f16 scale
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    public static bool IsFloatingPoint(DType dtype) => dtype is DType.F32 or DType.F16 or DType.BF16 or DType.F64;

    public static bool IsQuantized(DType dtype) => BlockElements(dtype) > 1;

    /// <summary>Bytes that <paramref name="elementCount"/> elements occupy; null if the count is not whole blocks or overflows.</summary>
    public static long? ByteCount(DType dtype, long elementCount)
    {
        int block = BlockElements(dtype);
        if (elementCount < 0 || elementCount % block != 0) return null;
        try { return checked(elementCount / block * BlockBytes(dtype)); }
        catch (OverflowException) { return null; }
    }

    /// <summary>The safetensors dtype string ("F32", "BF16", ...), or null for types safetensors cannot store.</summary>
    public static string? SafetensorsName(DType dtype) => dtype switch
    {
        DType.F32 => "F32", DType.F16 => "F16", DType.BF16 => "BF16", DType.F64 => "F64",
        DType.I64 => "I64", DType.I32 => "I32", DType.I16 => "I16", DType.I8 => "I8", DType.U8 => "U8", DType.Bool => "BOOL",
        _ => null,
    };

    public static DType? FromSafetensorsName(string name) => name switch
    {
        "F32" => DType.F32, "F16" => DType.F16, "BF16" => DType.BF16, "F64" => DType.F64,
        "I64" => DType.I64, "I32" => DType.I32, "I16" => DType.I16, "I8" => DType.I8, "U8" => DType.U8, "BOOL" => DType.Bool,
        _ => null,
    };
}
