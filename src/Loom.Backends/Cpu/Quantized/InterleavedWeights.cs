using System.Runtime.InteropServices;
using Loom.Models.Weights;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// 32-value block weight rows (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) repacked once at load with eight rows side by side, as
/// llama.cpp's CPU "repack" buffers (Q4_0x8) hold them, so that one activation load feeds eight rows and each int32
/// lane of a dot product is one row.
/// <para>
/// Layout, per group of eight rows g and 32-value block b (one "group block" of <see cref="InterleavedLayout.GroupBlockBytes"/>):
/// the eight rows' quant bytes as QuantBytes / 4 vectors of 32 bytes, vector c holding bytes [4c, 4c + 4) of row r at
/// [4r, 4r + 4) (for Q8_0 that is values 4c..4c+3; for the nibble types, whose byte i holds value i in its low nibble
/// and value i + 16 in its high one, the low nibbles of vector c are values 4c..4c+3 and the high nibbles values
/// 16 + 4c..); for Q5_0 / Q5_1 then one vector of fifth bits rearranged so that vector c's need one shift each
/// (<see cref="FifthBits"/>); and, in a separate array, the eight rows' fp16 scales side by side, then (Q4_1 / Q5_1)
/// their eight fp16 mins. Quants, scales and mins stay as stored (no rounding), so decode streams the same bytes per
/// weight as before. The last group is padded with zero rows.
/// </para>
/// </summary>
internal sealed unsafe class InterleavedWeights
{
    public const int GroupRows = 8;

    private readonly byte* _quants;   // [Groups, Blocks, Layout.GroupBlockBytes]
    private readonly ushort* _scales; // [Groups, Blocks, Layout.HalvesPerRow * GroupRows]
    private readonly long _bytes;

    private InterleavedWeights(int groups, int blocks, InterleavedLayout layout)
    {
        Groups = groups;
        Blocks = blocks;
        Layout = layout;
        long quantTotal = (long)groups * blocks * layout.GroupBlockBytes;
        long scaleTotal = (long)groups * blocks * GroupRows * layout.HalvesPerRow * sizeof(ushort);
        _quants = (byte*)NativeMemory.AlignedAlloc((nuint)quantTotal, 64);
        _scales = (ushort*)NativeMemory.AlignedAlloc((nuint)scaleTotal, 64);
        _bytes = quantTotal + scaleTotal;
        GC.AddMemoryPressure(_bytes);
    }

    ~InterleavedWeights()
    {
        NativeMemory.AlignedFree(_quants);
        NativeMemory.AlignedFree(_scales);
        GC.RemoveMemoryPressure(_bytes);
    }

    public int Groups { get; }
    /// <summary>32-value blocks per row.</summary>
    public int Blocks { get; }
    public InterleavedLayout Layout { get; }

    /// <summary>Group g's quants, group block after group block.</summary>
    public byte* Quants(int g) => _quants + (long)g * Blocks * Layout.GroupBlockBytes;

    /// <summary>Group g's fp16 scales (and mins), GroupRows · HalvesPerRow per block.</summary>
    public ushort* Scales(int g) => _scales + (long)g * Blocks * GroupRows * Layout.HalvesPerRow;

    /// <summary>
    /// Repacks <paramref name="outFeatures"/> rows of <paramref name="blocks"/> blocks. Null when a scale or min is
    /// infinite or NaN: the repacked kernels widen fp16 with integer arithmetic that is exact for every finite value
    /// only, so such a (broken) tensor keeps the in-place kernels, which propagate the inf/NaN as before.
    /// </summary>
    public static InterleavedWeights? TryCreate(byte* rows, long rowBytes, int outFeatures, int blocks, InterleavedLayout layout)
    {
        if (!AllHalvesFinite(rows, rowBytes, outFeatures, blocks, layout)) return null;
        int groups = (outFeatures + GroupRows - 1) / GroupRows;
        var packed = new InterleavedWeights(groups, blocks, layout);
        for (int g = 0; g < groups; g++)
            for (int b = 0; b < blocks; b++)
            {
                byte* qb = packed.Quants(g) + (long)b * layout.GroupBlockBytes;
                ushort* sb = packed.Scales(g) + (long)b * GroupRows * layout.HalvesPerRow;
                for (int r = 0; r < GroupRows; r++)
                {
                    long o = (long)g * GroupRows + r;
                    byte* block = o < outFeatures ? rows + o * rowBytes + (long)b * layout.BlockBytes : null;
                    PackRow(block, layout, qb, sb, r);
                }
            }
        return packed;
    }

    /// <summary>Row r's part of one group block (zeros for a padding row, <paramref name="block"/> null).</summary>
    private static void PackRow(byte* block, InterleavedLayout layout, byte* qb, ushort* sb, int r)
    {
        sb[r] = block != null ? *(ushort*)block : (ushort)0;
        if (layout.MinOffset is int minOffset) sb[GroupRows + r] = block != null ? *(ushort*)(block + minOffset) : (ushort)0;
        for (int c = 0; c < layout.QuantBytes / 4; c++)
            *(uint*)(qb + c * 32 + r * 4) = block != null ? *(uint*)(block + layout.QuantOffset + c * 4) : 0;
        if (layout.HighBitsOffset is int highOffset)
            *(uint*)(qb + layout.QuantBytes * GroupRows + r * 4) = block != null ? FifthBits(*(uint*)(block + highOffset)) : 0;
    }

    /// <summary>
    /// A block's 32 fifth bits (bit j: value j) rearranged into four bytes: byte i bit c is value 4c + i's, bit 4 + c
    /// value 16 + 4c + i's. Then the fifth bits of vector c's low nibbles are bit c of each byte and those of its high
    /// nibbles bit 4 + c, each moved to bit 4 by one 16-bit shift.
    /// </summary>
    internal static uint FifthBits(uint high)
    {
        uint packed = 0;
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < 4; c++)
            {
                packed |= ((high >> (4 * c + i)) & 1) << (8 * i + c);
                packed |= ((high >> (16 + 4 * c + i)) & 1) << (8 * i + 4 + c);
            }
        return packed;
    }

    private static bool AllHalvesFinite(byte* rows, long rowBytes, int outFeatures, int blocks, InterleavedLayout layout)
    {
        for (long o = 0; o < outFeatures; o++)
            for (int b = 0; b < blocks; b++)
            {
                byte* block = rows + o * rowBytes + (long)b * layout.BlockBytes;
                if (!IsFinite(*(ushort*)block)) return false;
                if (layout.MinOffset is int minOffset && !IsFinite(*(ushort*)(block + minOffset))) return false;
            }
        return true;
    }

    private static bool IsFinite(ushort half) => (half & 0x7C00) != 0x7C00;
}

/// <summary>Where a 32-value block type keeps its parts (byte offsets in the stored block), and what its group blocks hold.</summary>
internal sealed record InterleavedLayout(int BlockBytes, int QuantOffset, int QuantBytes, int? MinOffset, int? HighBitsOffset)
{
    public static readonly InterleavedLayout Q8_0 = new(34, 2, 32, null, null);
    public static readonly InterleavedLayout Q4_0 = new(18, 2, 16, null, null);
    public static readonly InterleavedLayout Q4_1 = new(20, 4, 16, 2, null);
    public static readonly InterleavedLayout Q5_0 = new(22, 6, 16, null, 2);
    public static readonly InterleavedLayout Q5_1 = new(24, 8, 16, 2, 4);

    /// <summary>Quant bytes (and fifth bits) of eight rows' blocks.</summary>
    public int GroupBlockBytes => InterleavedWeights.GroupRows * QuantBytes + (HighBitsOffset != null ? 32 : 0);

    /// <summary>fp16 values per row and block: the scale, and the min where there is one.</summary>
    public int HalvesPerRow => MinOffset != null ? 2 : 1;

    /// <summary>The layout of a type the interleaved kernels compute with, or null.</summary>
    public static InterleavedLayout? For(DType dtype) => dtype switch
    {
        DType.Q8_0 => Q8_0,
        DType.Q4_0 => Q4_0,
        DType.Q4_1 => Q4_1,
        DType.Q5_0 => Q5_0,
        DType.Q5_1 => Q5_1,
        _ => null,
    };
}
