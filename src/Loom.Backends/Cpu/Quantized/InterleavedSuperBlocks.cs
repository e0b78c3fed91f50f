using System.Runtime.InteropServices;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// K-quant weight rows (Q4_K, Q5_K, Q6_K) unpacked once at load and repacked with eight rows side by side, as
/// llama.cpp's CPU repack holds Q4_K (block_q4_Kx8): each int32 lane of a dot product is one row, so one activation
/// load feeds eight rows and no horizontal sum is needed. Every type is brought to one form in 16-value sub-blocks
/// (Q4_K's and Q5_K's 32-value scales and mins are each written for both of their halves), so one kernel serves all.
/// <para>
/// Layout of one group super-block (eight rows, 256 values; value chunk c holds values 4c..4c+3), at byte offsets:
/// [0, 1024) 32 vectors of low bits, vector v's low nibbles chunk v of each row (row r at bytes [4r, 4r + 4)), its high
/// nibbles chunk v + 32; for the 5- and 6-bit types then [1024, 1536) 16 vectors of high bits (two per value), vector u
/// holding chunk u's in bits 0–1, chunk u + 32's in bits 2–3, chunk u + 16's in bits 4–5, chunk u + 48's in bits 6–7;
/// then 16 × 8 int8 sub-block scales (sub-block j, row r at 8j + r); then 8 vectors of int16 offset pairs (vector i,
/// row r: the weights of Σx over sub-blocks 2i and 2i + 1: Q6_K's 32·scale for its −32, the K-quants' mins); then
/// d and dmin as 8 fp32 each. Decode streams more bytes than the stored blocks (Q6_K 1952 for 1680, Q4_K 1440 for
/// 1152, Q5_K 1952 for 1408) in exchange for no unpacking of scales and mins per token.
/// </para>
/// </summary>
internal sealed unsafe class InterleavedSuperBlocks
{
    public const int GroupRows = InterleavedWeights.GroupRows;
    public const int HighBitsOffset = 1024;

    private readonly byte* _blocks; // [Groups, Blocks, GroupBlockBytes]
    private readonly long _bytes;

    private InterleavedSuperBlocks(int groups, int blocks, bool hasHighBits)
    {
        Groups = groups;
        Blocks = blocks;
        GroupBlockBytes = GroupBlockSize(hasHighBits);
        _bytes = (long)groups * blocks * GroupBlockBytes;
        _blocks = (byte*)NativeMemory.AlignedAlloc((nuint)_bytes, 64);
        GC.AddMemoryPressure(_bytes);
    }

    ~InterleavedSuperBlocks()
    {
        NativeMemory.AlignedFree(_blocks);
        GC.RemoveMemoryPressure(_bytes);
    }

    public int Groups { get; }
    /// <summary>256-value super-blocks per row.</summary>
    public int Blocks { get; }
    public int GroupBlockBytes { get; }

    /// <summary>Group g's group super-blocks, one after another.</summary>
    public byte* Group(int g) => _blocks + (long)g * Blocks * GroupBlockBytes;

    /// <summary>Bytes of one group super-block, and where its parts start.</summary>
    public static int GroupBlockSize(bool hasHighBits) => ScalesOffset(hasHighBits) + 128 + 256 + 64;
    public static int ScalesOffset(bool hasHighBits) => hasHighBits ? 1536 : 1024;
    public static int OffsetPairsOffset(bool hasHighBits) => ScalesOffset(hasHighBits) + 128;
    public static int DOffset(bool hasHighBits) => OffsetPairsOffset(hasHighBits) + 256;

    /// <summary>Unpacks each row's super-blocks with <typeparamref name="TBlock"/>'s own unpacking, then repacks them.</summary>
    public static InterleavedSuperBlocks Create<TBlock>(byte* rows, long rowBytes, int outFeatures, int blocks, bool hasHighBits)
        where TBlock : struct, ISuperBlock
    {
        int groups = (outFeatures + GroupRows - 1) / GroupRows;
        var packed = new InterleavedSuperBlocks(groups, blocks, hasHighBits);
        NativeMemory.Clear(packed._blocks, (nuint)packed._bytes);
        var row = PreparedRow.ForThisThread(256);
        for (long o = 0; o < outFeatures; o++)
            for (int b = 0; b < blocks; b++)
            {
                row.Prepare<TBlock>(rows + o * rowBytes + (long)b * TBlock.BlockBytes);
                byte* gb = packed.Group((int)(o / GroupRows)) + (long)b * packed.GroupBlockBytes;
                PackRow(row, gb, (int)(o % GroupRows), hasHighBits);
            }
        return packed;
    }

    private static void PackRow(PreparedRow row, byte* gb, int r, bool hasHighBits)
    {
        for (int v = 0; v < 256; v++)
        {
            int c = v / 4, at = 4 * r + v % 4, q = row.Q[v];
            gb[32 * (c % 32) + at] |= (byte)((q & 0xF) << (c < 32 ? 0 : 4));
            if (hasHighBits) gb[HighBitsOffset + 32 * (c % 16) + at] |= (byte)((q >> 4) << (2 * HighSlot(c)));
        }
        sbyte* scales = (sbyte*)(gb + ScalesOffset(hasHighBits));
        for (int j = 0; j < 16; j++) scales[8 * j + r] = (sbyte)row.Scales[j / 2 * 16 + j % 2 * 8];
        short* pairs = (short*)(gb + OffsetPairsOffset(hasHighBits));
        for (int i = 0; i < 8; i++)
        {
            pairs[16 * i + 2 * r] = row.Offsets[2 * i];
            pairs[16 * i + 2 * r + 1] = row.Offsets[2 * i + 1];
        }
        float* d = (float*)(gb + DOffset(hasHighBits));
        d[r] = row.D[0];
        d[GroupRows + r] = row.DMin[0];
    }

    /// <summary>Which two bits of its high-bits byte chunk c's high bits take (chunk u: 0, u + 32: 1, u + 16: 2, u + 48: 3).</summary>
    internal static int HighSlot(int c) => (c / 16) switch { 0 => 0, 1 => 2, 2 => 1, _ => 3 };
}
