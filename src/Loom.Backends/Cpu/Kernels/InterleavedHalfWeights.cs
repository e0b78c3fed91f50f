using System.Runtime.InteropServices;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// 16-bit float weight rows (F16 or BF16) repacked once at load eight rows side by side, k-major: per group of eight rows, element k of the
/// eight rows is one 16-byte vector, so a kernel widens eight rows at one k with one load and multiplies them by one
/// broadcast input value (lanes are rows, as in llama.cpp's repacked CPU buffers and BLIS's packed panels).
/// The halves stay as stored (no rounding): decode streams the same bytes per weight as before. The last group is
/// padded with zero rows. Memory: a copy the size of the tensor (the original stays mapped for embedding lookups).
/// </summary>
internal sealed unsafe class InterleavedHalfWeights
{
    public const int GroupRows = 8;

    private readonly ushort* _halves; // [Groups, InFeatures, GroupRows] fp16 or bf16 bits
    private readonly long _bytes;

    private InterleavedHalfWeights(int groups, int inFeatures)
    {
        Groups = groups;
        InFeatures = inFeatures;
        _bytes = (long)groups * inFeatures * GroupRows * sizeof(ushort);
        _halves = (ushort*)NativeMemory.AlignedAlloc((nuint)_bytes, 64);
        GC.AddMemoryPressure(_bytes);
    }

    ~InterleavedHalfWeights()
    {
        NativeMemory.AlignedFree(_halves);
        GC.RemoveMemoryPressure(_bytes);
    }

    public int Groups { get; }
    public int InFeatures { get; }

    /// <summary>Group g: InFeatures vectors of GroupRows halves (element k of rows 8g..8g+7).</summary>
    public ushort* Group(int g) => _halves + (long)g * InFeatures * GroupRows;

    /// <summary>
    /// Repacks <paramref name="outFeatures"/> row-major F16 rows of <paramref name="inFeatures"/> halves. Null when a
    /// value is infinite or NaN: the kernels widen fp16 with integer arithmetic that is exact for every finite value
    /// only, so such a (broken) tensor keeps the in-place kernel.
    /// </summary>
    public static InterleavedHalfWeights? TryCreateF16(ushort* rows, int outFeatures, int inFeatures)
    {
        long count = (long)outFeatures * inFeatures;
        for (long i = 0; i < count; i++)
            if ((rows[i] & 0x7C00) == 0x7C00) return null;
        return Create(rows, outFeatures, inFeatures);
    }

    /// <summary>Repacks <paramref name="outFeatures"/> row-major rows of <paramref name="inFeatures"/> 16-bit values.</summary>
    public static InterleavedHalfWeights Create(ushort* rows, int outFeatures, int inFeatures)
    {
        int groups = (outFeatures + GroupRows - 1) / GroupRows;
        var packed = new InterleavedHalfWeights(groups, inFeatures);
        for (int g = 0; g < groups; g++)
        {
            ushort* dst = packed.Group(g);
            for (int r = 0; r < GroupRows; r++)
            {
                long o = (long)g * GroupRows + r;
                ushort* src = rows + o * inFeatures;
                if (o >= outFeatures)
                    for (int k = 0; k < inFeatures; k++) dst[k * GroupRows + r] = 0;
                else
                    for (int k = 0; k < inFeatures; k++) dst[k * GroupRows + r] = src[k];
            }
        }
        return packed;
    }
}
