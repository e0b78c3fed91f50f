using System.Runtime.InteropServices;
using Loom.Models.Weights;

namespace Loom.Models.Gguf;

/// <summary>
/// Reference (scalar) quantization and dequantization of ggml block formats, bit-compatible with ggml's
/// quantize_row_*_ref / dequantize_row_*. Blocks:
/// Q8_0 (34 B / 32 values): f16 scale d, 32 x int8; x = d * q.
/// Q4_0 (18 B / 32 values): f16 scale d, 16 bytes of nibbles (low nibble = value j, high = value j + 16); x = d * (q - 8).
/// Q4_K (144 B / 256 values): f16 d, f16 dmin, 12 bytes of packed 6-bit scales/mins for 8 sub-blocks, 128 bytes of nibbles.
/// Q6_K (210 B / 256 values): 128 B low 4 bits, 64 B high 2 bits, 16 x int8 sub-block scales, f16 d; x = d * scale * (q - 32).
/// The fallback types llama-quantize writes where rows are not whole 256-value blocks, and Q5_K, are in
/// GgmlQuants.Blocks.cs.
/// The SIMD kernels in Loom.Backends compute on the blocks directly and are tested against these.
/// </summary>
public static partial class GgmlQuants
{
    public const int Q8_0BlockBytes = 34, Q4_0BlockBytes = 18, Q4_KBlockBytes = 144, Q6_KBlockBytes = 210;

    /// <summary>Quantizes <paramref name="source"/> (a multiple of 32 values) to Q8_0 blocks.</summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> source, Span<byte> destination)
    {
        CheckSizes(source.Length, 32, destination.Length, Q8_0BlockBytes);
        for (int b = 0; b < source.Length / 32; b++)
        {
            var x = source.Slice(b * 32, 32);
            var block = destination.Slice(b * Q8_0BlockBytes, Q8_0BlockBytes);
            float amax = 0;
            foreach (float v in x) amax = Math.Max(amax, Math.Abs(v));
            float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
            WriteHalf(block, (Half)d);
            for (int j = 0; j < 32; j++) block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
        }
    }

    /// <summary>Quantizes <paramref name="source"/> (a multiple of 32 values) to Q4_0 blocks.</summary>
    public static void QuantizeQ4_0(ReadOnlySpan<float> source, Span<byte> destination)
    {
        CheckSizes(source.Length, 32, destination.Length, Q4_0BlockBytes);
        for (int b = 0; b < source.Length / 32; b++)
        {
            var x = source.Slice(b * 32, 32);
            var block = destination.Slice(b * Q4_0BlockBytes, Q4_0BlockBytes);
            float amax = 0, max = 0;
            foreach (float v in x)
                if (Math.Abs(v) > amax) { amax = Math.Abs(v); max = v; }
            float d = max / -8f, id = d != 0 ? 1f / d : 0f;
            WriteHalf(block, (Half)d);
            for (int j = 0; j < 16; j++)
            {
                int lo = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
                int hi = Math.Min(15, (int)(sbyte)(x[j + 16] * id + 8.5f));
                block[2 + j] = (byte)(lo | (hi << 4));
            }
        }
    }

    /// <summary>Dequantizes whole blocks of <paramref name="type"/> into <paramref name="destination"/>.</summary>
    public static void Dequantize(DType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        switch (type)
        {
            case DType.Q8_0: DequantizeQ8_0(source, destination); break;
            case DType.Q4_0: DequantizeQ4_0(source, destination); break;
            case DType.Q4_K: DequantizeQ4_K(source, destination); break;
            case DType.Q6_K: DequantizeQ6_K(source, destination); break;
            case DType.Q5_K: DequantizeQ5_K(source, destination); break;
            case DType.Q4_1: DequantizeQ4_1(source, destination); break;
            case DType.Q5_0: DequantizeQ5_0(source, destination); break;
            case DType.Q5_1: DequantizeQ5_1(source, destination); break;
            case DType.IQ4_NL: DequantizeIQ4_NL(source, destination); break;
            case DType.F32: MemoryMarshal.Cast<byte, float>(source).CopyTo(destination); break;
            case DType.F16: HalfConvert.F16ToF32(MemoryMarshal.Cast<byte, ushort>(source), destination); break;
            case DType.BF16: HalfConvert.BF16ToF32(MemoryMarshal.Cast<byte, ushort>(source), destination); break;
            default: throw new NotSupportedException($"Cannot dequantize {type}.");
        }
    }

    public static void DequantizeQ8_0(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = CheckBlocks(source.Length, Q8_0BlockBytes, destination.Length, 32);
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * Q8_0BlockBytes, Q8_0BlockBytes);
            float d = ReadHalf(block, 0);
            for (int j = 0; j < 32; j++) destination[b * 32 + j] = d * (sbyte)block[2 + j];
        }
    }

    public static void DequantizeQ4_0(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = CheckBlocks(source.Length, Q4_0BlockBytes, destination.Length, 32);
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * Q4_0BlockBytes, Q4_0BlockBytes);
            float d = ReadHalf(block, 0);
            for (int j = 0; j < 16; j++)
            {
                destination[b * 32 + j] = d * ((block[2 + j] & 0xF) - 8);
                destination[b * 32 + j + 16] = d * ((block[2 + j] >> 4) - 8);
            }
        }
    }

    public static void DequantizeQ4_K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = CheckBlocks(source.Length, Q4_KBlockBytes, destination.Length, 256);
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * Q4_KBlockBytes, Q4_KBlockBytes);
            float d = ReadHalf(block, 0), dmin = ReadHalf(block, 2);
            var scales = block.Slice(4, 12);
            var q = block.Slice(16, 128);
            var y = destination.Slice(b * 256, 256);
            for (int j = 0, sub = 0; j < 256; j += 64, sub += 2)
            {
                var (sc1, m1) = ScaleMinK4(sub, scales);
                var (sc2, m2) = ScaleMinK4(sub + 1, scales);
                float d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
                var qs = q.Slice(j / 2, 32);
                for (int l = 0; l < 32; l++) y[j + l] = d1 * (qs[l] & 0xF) - min1;
                for (int l = 0; l < 32; l++) y[j + 32 + l] = d2 * (qs[l] >> 4) - min2;
            }
        }
    }

    /// <summary>The 6-bit scale and min of sub-block <paramref name="j"/> (0..7) of a Q4_K/Q5_K block (ggml's get_scale_min_k4).</summary>
    public static (int Scale, int Min) ScaleMinK4(int j, ReadOnlySpan<byte> scales) => j < 4
        ? (scales[j] & 63, scales[j + 4] & 63)
        : ((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4), (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));

    public static void DequantizeQ6_K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = CheckBlocks(source.Length, Q6_KBlockBytes, destination.Length, 256);
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * Q6_KBlockBytes, Q6_KBlockBytes);
            var ql = block[..128];
            var qh = block.Slice(128, 64);
            var sc = MemoryMarshal.Cast<byte, sbyte>(block.Slice(192, 16));
            float d = ReadHalf(block, 208);
            var y = destination.Slice(b * 256, 256);
            for (int n = 0; n < 2; n++)
            {
                var l4 = ql.Slice(n * 64, 64);
                var h2 = qh.Slice(n * 32, 32);
                var s = sc.Slice(n * 8, 8);
                var yn = y.Slice(n * 128, 128);
                for (int l = 0; l < 32; l++)
                {
                    int i = l / 16;
                    int q1 = ((l4[l] & 0xF) | ((h2[l] & 3) << 4)) - 32;
                    int q2 = ((l4[l + 32] & 0xF) | (((h2[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((l4[l] >> 4) | (((h2[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((l4[l + 32] >> 4) | (((h2[l] >> 6) & 3) << 4)) - 32;
                    yn[l] = d * s[i] * q1;
                    yn[l + 32] = d * s[i + 2] * q2;
                    yn[l + 64] = d * s[i + 4] * q3;
                    yn[l + 96] = d * s[i + 6] * q4;
                }
            }
        }
    }

    public static float ReadHalf(ReadOnlySpan<byte> block, int offset) =>
        (float)BitConverter.UInt16BitsToHalf((ushort)(block[offset] | (block[offset + 1] << 8)));

    private static void WriteHalf(Span<byte> block, Half value)
    {
        ushort bits = BitConverter.HalfToUInt16Bits(value);
        block[0] = (byte)bits;
        block[1] = (byte)(bits >> 8);
    }

    private static void CheckSizes(int values, int blockValues, int bytes, int blockBytes)
    {
        if (values % blockValues != 0) throw new ArgumentException($"{values} values is not a multiple of the block size {blockValues}.");
        if (bytes < values / blockValues * blockBytes) throw new ArgumentException($"Destination holds {bytes} bytes; {values / blockValues * blockBytes} needed.");
    }

    private static int CheckBlocks(int bytes, int blockBytes, int values, int blockValues)
    {
        if (bytes % blockBytes != 0) throw new ArgumentException($"{bytes} bytes is not a whole number of {blockBytes}-byte blocks.");
        int blocks = bytes / blockBytes;
        if (values < blocks * blockValues) throw new ArgumentException($"Destination holds {values} values; {blocks * blockValues} needed.");
        return blocks;
    }
}
