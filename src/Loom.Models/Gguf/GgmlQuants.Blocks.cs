namespace Loom.Models.Gguf;

/// <summary>
/// Dequantization of the 32-value types llama-quantize falls back to when a row is not whole 256-value blocks (Q4_1,
/// Q5_0, Q5_1, IQ4_NL), and of Q5_K; bit-compatible with ggml's dequantize_row_* (ggml-quants.c). Blocks:
/// Q4_1 (20 B): f16 d, f16 m, 16 bytes of nibbles (low = value j, high = value j + 16); x = d * q + m.
/// Q5_0 (22 B): f16 d, 32 high bits (bit j for value j), 16 bytes of nibbles; x = d * (q - 16).
/// Q5_1 (24 B): f16 d, f16 m, 32 high bits, 16 bytes of nibbles; x = d * q + m.
/// IQ4_NL (18 B): f16 d, 16 bytes of nibbles indexing <see cref="IQ4_NLValues"/>; x = d * table[q].
/// Q5_K (176 B / 256 values): f16 d, f16 dmin, 12 bytes of 6-bit scales/mins (as Q4_K), 32 bytes of high bits (bit c of
/// byte l for value 32c + l), 128 bytes of nibbles (as Q4_K); x = d * scale * q - dmin * min.
/// </summary>
public static partial class GgmlQuants
{
    public const int Q4_1BlockBytes = 20, Q5_0BlockBytes = 22, Q5_1BlockBytes = 24, IQ4_NLBlockBytes = 18, Q5_KBlockBytes = 176;

    /// <summary>IQ4_NL's 16 levels (ggml's kvalues_iq4nl).</summary>
    public static ReadOnlySpan<sbyte> IQ4_NLValues => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    public static void DequantizeQ4_1(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = CheckBlocks(source.Length, Q4_1BlockBytes, destination.Length, 32);
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * Q4_1BlockBytes, Q4_1BlockBytes);
            float d = ReadHalf(block, 0), m = ReadHalf(block, 2);
            for (int j = 0; j < 16; j++)
            {
                destination[b * 32 + j] = (block[4 + j] & 0xF) * d + m;
                destination[b * 32 + j + 16] = (block[4 + j] >> 4) * d + m;
            }
        }
    }

    public static void DequantizeQ5_0(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = CheckBlocks(source.Length, Q5_0BlockBytes, destination.Length, 32);
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * Q5_0BlockBytes, Q5_0BlockBytes);
            float d = ReadHalf(block, 0);
            uint qh = ReadUInt32(block, 2);
            for (int j = 0; j < 16; j++)
            {
                destination[b * 32 + j] = (FiveBits(block[6 + j] & 0xF, qh, j) - 16) * d;
                destination[b * 32 + j + 16] = (FiveBits(block[6 + j] >> 4, qh, j + 16) - 16) * d;
            }
        }
    }

    public static void DequantizeQ5_1(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = CheckBlocks(source.Length, Q5_1BlockBytes, destination.Length, 32);
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * Q5_1BlockBytes, Q5_1BlockBytes);
            float d = ReadHalf(block, 0), m = ReadHalf(block, 2);
            uint qh = ReadUInt32(block, 4);
            for (int j = 0; j < 16; j++)
            {
                destination[b * 32 + j] = FiveBits(block[8 + j] & 0xF, qh, j) * d + m;
                destination[b * 32 + j + 16] = FiveBits(block[8 + j] >> 4, qh, j + 16) * d + m;
            }
        }
    }

    public static void DequantizeIQ4_NL(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = CheckBlocks(source.Length, IQ4_NLBlockBytes, destination.Length, 32);
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * IQ4_NLBlockBytes, IQ4_NLBlockBytes);
            float d = ReadHalf(block, 0);
            for (int j = 0; j < 16; j++)
            {
                destination[b * 32 + j] = d * IQ4_NLValues[block[2 + j] & 0xF];
                destination[b * 32 + j + 16] = d * IQ4_NLValues[block[2 + j] >> 4];
            }
        }
    }

    public static void DequantizeQ5_K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = CheckBlocks(source.Length, Q5_KBlockBytes, destination.Length, 256);
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * Q5_KBlockBytes, Q5_KBlockBytes);
            float d = ReadHalf(block, 0), dmin = ReadHalf(block, 2);
            var scales = block.Slice(4, 12);
            var qh = block.Slice(16, 32);
            var q = block.Slice(48, 128);
            var y = destination.Slice(b * 256, 256);
            for (int sub = 0; sub < 8; sub++)
            {
                var (sc, m) = ScaleMinK4(sub, scales);
                float d1 = d * sc, min1 = dmin * m;
                var qs = q.Slice(sub / 2 * 32, 32);
                int shift = (sub & 1) * 4;
                for (int l = 0; l < 32; l++)
                    y[sub * 32 + l] = d1 * (((qs[l] >> shift) & 0xF) + ((qh[l] >> sub) & 1) * 16) - min1;
            }
        }
    }

    /// <summary>A 4-bit value with bit <paramref name="j"/> of <paramref name="qh"/> as its fifth bit.</summary>
    private static int FiveBits(int low, uint qh, int j) => low | (int)((qh >> j) & 1) << 4;

    private static uint ReadUInt32(ReadOnlySpan<byte> block, int offset) =>
        System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]);
}
