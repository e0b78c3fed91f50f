using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Loom.Models.Gguf;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// Q4_1: f16 d, f16 m, 16 bytes of nibbles (low = value j, high = value j + 16), w = d·q + m. The nibbles are the
/// unsigned side as they are; the min's term m · d_x · Σq_x is added by the kernels in float (<see cref="IQuantBlock.HasMin"/>).
/// </summary>
internal unsafe struct Q4_1Block : IQuantBlock
{
    public static int BlockBytes => 20;
    public static bool HasMin => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Min(byte* block) => IntDot.Scale(block + 2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Prepare(byte* block, out Vector256<sbyte> signs)
    {
        signs = default;
        return BlockBits.Nibbles(block + 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Start(int xSum) => Vector256<int>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<int> start, Vector256<byte> prepared, Vector256<sbyte> signs, Vector256<sbyte> x) =>
        IntDot.U8S8(start, prepared, x);

    public static int DotScalar(byte* block, sbyte* x, int xSum) => BlockBits.NibbleDot(block + 4, x);
}

/// <summary>
/// Q5_0: f16 d, 32 high bits (bit j belongs to value j), 16 bytes of nibbles; w = q - 16 with q the 5-bit value. As for
/// Q4_0, Σ(q - 16)x = Σ q·x - 16 Σx: the correction starts the integer accumulator.
/// </summary>
internal unsafe struct Q5_0Block : IQuantBlock
{
    public static int BlockBytes => 22;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Prepare(byte* block, out Vector256<sbyte> signs)
    {
        signs = default;
        return BlockBits.FiveBits(block + 6, block + 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Start(int xSum) => Vector256.CreateScalar(-16 * xSum);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<int> start, Vector256<byte> prepared, Vector256<sbyte> signs, Vector256<sbyte> x) =>
        IntDot.U8S8(start, prepared, x);

    public static int DotScalar(byte* block, sbyte* x, int xSum) => BlockBits.FiveBitDot(block + 6, *(uint*)(block + 2), x) - 16 * xSum;
}

/// <summary>Q5_1: f16 d, f16 m, 32 high bits, 16 bytes of nibbles; w = d·q + m (the min as in <see cref="Q4_1Block"/>).</summary>
internal unsafe struct Q5_1Block : IQuantBlock
{
    public static int BlockBytes => 24;
    public static bool HasMin => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Min(byte* block) => IntDot.Scale(block + 2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Prepare(byte* block, out Vector256<sbyte> signs)
    {
        signs = default;
        return BlockBits.FiveBits(block + 8, block + 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Start(int xSum) => Vector256<int>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<int> start, Vector256<byte> prepared, Vector256<sbyte> signs, Vector256<sbyte> x) =>
        IntDot.U8S8(start, prepared, x);

    public static int DotScalar(byte* block, sbyte* x, int xSum) => BlockBits.FiveBitDot(block + 8, *(uint*)(block + 4), x);
}

/// <summary>
/// IQ4_NL: f16 d, 16 bytes of nibbles indexing a fixed table of 16 signed levels (one pshufb turns nibbles into
/// levels). The levels reach -127, so like Q8_0 the unsigned side is |w| and x carries w's sign (an offset of 128
/// would overflow maddubs' int16 pairs).
/// </summary>
internal unsafe struct IQ4_NLBlock : IQuantBlock
{
    public static int BlockBytes => 18;

    private static readonly Vector128<sbyte> Levels = Vector128.Create(GgmlQuants.IQ4_NLValues);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Prepare(byte* block, out Vector256<sbyte> signs)
    {
        var table = Vector256.Create(Levels, Levels);
        signs = Avx2.Shuffle(table, BlockBits.Nibbles(block + 2).AsSByte());
        return Avx2.Abs(signs);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Start(int xSum) => Vector256<int>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<int> start, Vector256<byte> prepared, Vector256<sbyte> signs, Vector256<sbyte> x) =>
        IntDot.U8S8(start, prepared, Avx2.Sign(x, signs));

    public static int DotScalar(byte* block, sbyte* x, int xSum)
    {
        byte* q = block + 2;
        var levels = GgmlQuants.IQ4_NLValues;
        int s = 0;
        for (int j = 0; j < 16; j++) s += levels[q[j] & 0xF] * x[j] + levels[q[j] >> 4] * x[j + 16];
        return s;
    }
}

/// <summary>Unpacking shared by the 4- and 5-bit block formats.</summary>
internal static unsafe class BlockBits
{
    /// <summary>16 bytes of nibbles as 32 bytes: low nibbles (values 0..15), then high nibbles (values 16..31).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Nibbles(byte* packed)
    {
        var bytes = Sse2.LoadVector128(packed);
        var low = Vector128.Create((byte)0x0F);
        return Vector256.Create(Sse2.And(bytes, low), Sse2.And(Sse2.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte(), low));
    }

    /// <summary>Nibbles plus 16 where bit j of the 32-bit word at <paramref name="highBits"/> is set (ggml's bytes_from_bits_32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> FiveBits(byte* packed, byte* highBits)
    {
        // Byte j gets byte j / 8 of the word; OR with a mask that has every bit but j % 8 set is all ones iff bit j is.
        var word = Vector256.Create(*(uint*)highBits).AsByte();
        var spread = Avx2.Shuffle(word, Vector256.Create(0UL, 0x0101010101010101UL, 0x0202020202020202UL, 0x0303030303030303UL).AsByte());
        var set = Avx2.CompareEqual(spread | Vector256.Create(0x7FBFDFEFF7FBFDFEUL).AsByte(), Vector256<byte>.AllBitsSet);
        return Nibbles(packed) | (set & Vector256.Create((byte)0x10));
    }

    public static int NibbleDot(byte* q, sbyte* x)
    {
        int s = 0;
        for (int j = 0; j < 16; j++) s += (q[j] & 0xF) * x[j] + (q[j] >> 4) * x[j + 16];
        return s;
    }

    public static int FiveBitDot(byte* q, uint highBits, sbyte* x)
    {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += ((q[j] & 0xF) | (int)((highBits >> j) & 1) << 4) * x[j] + ((q[j] >> 4) | (int)((highBits >> (j + 16)) & 1) << 4) * x[j + 16];
        return s;
    }
}
