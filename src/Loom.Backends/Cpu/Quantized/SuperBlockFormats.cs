using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// A 256-value ggml K-quant super-block, unpacked at load (<see cref="PreparedRow"/>) into the form that
/// <see cref="InterleavedSuperBlocks"/> repacks for the kernels: 256 unsigned weights q, an int16 scale per weight
/// pair, and an int16 weight per 16 values for the activation sums, so that
/// Σ w·x = d_x · (d · Σ scale·q·x − dmin · Σ_g offset_g · Σx_g). The unpacking is portable Vector256 code.
/// </summary>
internal unsafe interface ISuperBlock
{
    static abstract int BlockBytes { get; }

    /// <summary>Whether the offset term is scaled by d itself (Q6_K's −32), so the kernels fold it into the integer sum.</summary>
    static abstract bool OffsetSharesScale { get; }

    /// <summary>
    /// Unpacks one block: <paramref name="q"/> [256] unsigned weights in value order; <paramref name="scales"/> [8 × 16]
    /// int16, chunk c's lanes 0..7 the scale of values 32c..32c+15 and lanes 8..15 of 32c+16..32c+31;
    /// <paramref name="offsets"/> [16] int16, the weight of each 16 values' Σx.
    /// </summary>
    static abstract void Prepare(byte* block, byte* q, short* scales, short* offsets, out float d, out float dmin);
}

/// <summary>Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins of 8 sub-blocks of 32, 128 bytes of nibbles; w = d·sc·q − dmin·m.</summary>
internal unsafe struct Q4_KBlock : ISuperBlock
{
    public static int BlockBytes => 144;
    public static bool OffsetSharesScale => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prepare(byte* block, byte* q, short* scales, short* offsets, out float d, out float dmin)
    {
        d = IntDot.Scale(block);
        dmin = IntDot.Scale(block + 2);
        KScales.SubBlockScalesAndMins(block + 4, scales, offsets);
        KScales.Nibbles(block + 16, q);
    }
}

/// <summary>Q5_K: as Q4_K plus 32 bytes of fifth bits (bit c of byte l belongs to value 32c + l) before the nibbles.</summary>
internal unsafe struct Q5_KBlock : ISuperBlock
{
    public static int BlockBytes => 176;
    public static bool OffsetSharesScale => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prepare(byte* block, byte* q, short* scales, short* offsets, out float d, out float dmin)
    {
        d = IntDot.Scale(block);
        dmin = IntDot.Scale(block + 2);
        KScales.SubBlockScalesAndMins(block + 4, scales, offsets);
        KScales.Nibbles(block + 48, q);
        var high = Vector256.Load(block + 16).AsUInt16();
        var lowBits = Vector256.Create((ushort)0x0101);
        for (int c = 0; c < 8; c++)
        {
            // Bit c of every byte moved to bit 4 (16-bit shifts: the mask keeps neighbouring bytes apart).
            var fifth = ((high >> c) & lowBits) << 4;
            Vector256.Store(Vector256.Load(q + 32 * c) | fifth.AsByte(), q + 32 * c);
        }
    }
}

/// <summary>
/// Q6_K: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 int8 scales of 16 values each, f16 d;
/// w = d·s·(q − 32). The −32 becomes an offset of 32·s per 16 values, scaled by d like the rest.
/// </summary>
internal unsafe struct Q6_KBlock : ISuperBlock
{
    public static int BlockBytes => 210;
    public static bool OffsetSharesScale => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prepare(byte* block, byte* q, short* scales, short* offsets, out float d, out float dmin)
    {
        d = dmin = IntDot.Scale(block + 208);
        sbyte* s = (sbyte*)(block + 192);
        for (int c = 0; c < 8; c++)
            Vector256.Store(Vector256.Create(Vector128.Create((short)s[2 * c]), Vector128.Create((short)s[2 * c + 1])), scales + 16 * c);
        var s16 = Vector128.Load(s);
        Vector256.Store(Vector256.Create(Vector128.WidenLower(s16), Vector128.WidenUpper(s16)) << 5, offsets);
        var low4 = Vector256.Create((byte)0x0F);
        for (int half = 0; half < 2; half++)
        {
            // Values 128h + 32i + l: low bits from ql[64h + l] (i = 0, 2) or ql[64h + 32 + l] (i = 1, 3), low or high
            // nibble for i < 2 or i ≥ 2; high bits are bits 2i, 2i + 1 of qh[32h + l].
            var ql0 = Vector256.Load(block + 64 * half);
            var ql1 = Vector256.Load(block + 64 * half + 32);
            var qh = Vector256.Load(block + 128 + 32 * half).AsUInt16();
            byte* o = q + 128 * half;
            Vector256.Store((ql0 & low4) | ((qh & Vector256.Create((ushort)0x0303)) << 4).AsByte(), o);
            Vector256.Store((ql1 & low4) | ((qh & Vector256.Create((ushort)0x0C0C)) << 2).AsByte(), o + 32);
            Vector256.Store((ql0.AsUInt16() >> 4).AsByte() & low4 | (qh & Vector256.Create((ushort)0x3030)).AsByte(), o + 64);
            Vector256.Store((ql1.AsUInt16() >> 4).AsByte() & low4 | ((qh & Vector256.Create((ushort)0xC0C0)) >> 2).AsByte(), o + 96);
        }
    }
}

/// <summary>The parts Q4_K and Q5_K share.</summary>
internal static unsafe class KScales
{
    /// <summary>
    /// The 8 sub-block scales (broadcast over each 32-value chunk) and mins (one per 16 values): ggml's get_scale_min_k4
    /// for all eight at once, on 32-bit words as ggml_vec_dot_q4_K_q8_K does (utmp).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SubBlockScalesAndMins(byte* packed, short* scales, short* offsets)
    {
        const uint Low6 = 0x3F3F3F3F, Low4 = 0x0F0F0F0F, Low2 = 0x03030303;
        uint w0 = *(uint*)packed, w1 = *(uint*)(packed + 4), w2 = *(uint*)(packed + 8);
        ulong scaleBytes = (w0 & Low6) | (ulong)((w2 & Low4) | (((w0 >> 6) & Low2) << 4)) << 32;
        ulong minBytes = (w1 & Low6) | (ulong)(((w2 >> 4) & Low4) | (((w1 >> 6) & Low2) << 4)) << 32;
        for (int j = 0; j < 8; j++)
        {
            Vector256.Store(Vector256.Create((short)(byte)(scaleBytes >> (8 * j))), scales + 16 * j);
            offsets[2 * j] = offsets[2 * j + 1] = (byte)(minBytes >> (8 * j));
        }
    }

    /// <summary>128 bytes of nibbles as 256 values: each 32 bytes give 32 low nibbles, then their 32 high nibbles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Nibbles(byte* packed, byte* q)
    {
        var low4 = Vector256.Create((byte)0x0F);
        for (int k = 0; k < 4; k++)
        {
            var bits = Vector256.Load(packed + 32 * k);
            Vector256.Store(bits & low4, q + 64 * k);
            Vector256.Store((bits.AsUInt16() >> 4).AsByte() & low4, q + 64 * k + 32);
        }
    }
}
