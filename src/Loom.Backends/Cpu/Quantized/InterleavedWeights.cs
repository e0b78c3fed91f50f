using System.Runtime.InteropServices;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// Q8_0 or Q4_0 weight rows repacked once at load with eight rows side by side, as llama.cpp's CPU "repack" buffers
/// (Q4_0x8) hold them, so that one activation load feeds eight rows and each int32 lane of a dot product is one row.
/// <para>
/// Layout, per group of eight rows g and 32-value block b: the eight rows' quant bytes as <see cref="QuantBytes"/> / 4
/// vectors of 32 bytes, vector c holding bytes [4c, 4c + 4) of row r at [4r, 4r + 4) (for Q8_0 that is values
/// 4c..4c+3; for Q4_0, whose byte i holds value i in its low nibble and value i + 16 in its high one, the low nibbles
/// of vector c are values 4c..4c+3 and the high nibbles values 16 + 4c..); and, in a separate array, the eight rows'
/// fp16 scales side by side. Quants and scales stay as stored (no rounding), so decode streams the same bytes per
/// weight as before plus nothing. The last group is padded with zero rows.
/// </para>
/// </summary>
internal sealed unsafe class InterleavedWeights
{
    public const int GroupRows = 8;

    private readonly byte* _quants;   // [Groups, Blocks, GroupRows * QuantBytes]
    private readonly ushort* _scales; // [Groups, Blocks, GroupRows]
    private readonly long _bytes;

    private InterleavedWeights(int groups, int blocks, int quantBytes)
    {
        Groups = groups;
        Blocks = blocks;
        QuantBytes = quantBytes;
        long quantTotal = (long)groups * blocks * GroupRows * quantBytes;
        long scaleTotal = (long)groups * blocks * GroupRows * sizeof(ushort);
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
    /// <summary>Quant bytes of one row's block: 32 for Q8_0, 16 for Q4_0.</summary>
    public int QuantBytes { get; }

    /// <summary>Group g's quants, block after block (GroupRows * QuantBytes bytes each).</summary>
    public byte* Quants(int g) => _quants + (long)g * Blocks * GroupRows * QuantBytes;

    /// <summary>Group g's fp16 scales, GroupRows per block.</summary>
    public ushort* Scales(int g) => _scales + (long)g * Blocks * GroupRows;

    /// <summary>
    /// Repacks <paramref name="outFeatures"/> rows of <paramref name="blocks"/> blocks of <paramref name="blockBytes"/>
    /// bytes (a 2-byte fp16 scale, then the quants). Null when a scale is infinite or NaN: the repacked kernels widen
    /// fp16 with integer arithmetic that is exact for every finite value only, so such a (broken) tensor keeps the
    /// in-place kernels, which propagate the inf/NaN as before.
    /// </summary>
    public static InterleavedWeights? TryCreate(byte* rows, long rowBytes, int outFeatures, int blocks, int blockBytes)
    {
        for (long o = 0; o < outFeatures; o++)
            for (int b = 0; b < blocks; b++)
                if ((*(ushort*)(rows + o * rowBytes + (long)b * blockBytes) & 0x7C00) == 0x7C00) return null;
        int quantBytes = blockBytes - 2;
        int groups = (outFeatures + GroupRows - 1) / GroupRows;
        var packed = new InterleavedWeights(groups, blocks, quantBytes);
        for (int g = 0; g < groups; g++)
        {
            byte* q = packed.Quants(g);
            ushort* s = packed.Scales(g);
            for (int b = 0; b < blocks; b++)
            {
                byte* qb = q + (long)b * GroupRows * quantBytes;
                for (int r = 0; r < GroupRows; r++)
                {
                    long o = (long)g * GroupRows + r;
                    if (o >= outFeatures)
                    {
                        s[b * GroupRows + r] = 0;
                        for (int c = 0; c < quantBytes / 4; c++) *(uint*)(qb + c * 32 + r * 4) = 0;
                        continue;
                    }
                    byte* block = rows + o * rowBytes + (long)b * blockBytes;
                    s[b * GroupRows + r] = *(ushort*)block;
                    for (int c = 0; c < quantBytes / 4; c++) *(uint*)(qb + c * 32 + r * 4) = *(uint*)(block + 2 + c * 4);
                }
            }
        }
        return packed;
    }
}
