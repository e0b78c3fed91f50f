using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// 16-bit float weight rows (F16 or BF16) repacked once at load eight rows side by side, k-major: element k of a
/// group's eight rows is one 16-byte vector, so a kernel widens eight rows at one k with one load and multiplies them
/// by one broadcast input value (lanes are rows, as in llama.cpp's repacked CPU buffers and BLIS's packed panels).
/// Eight groups (64 rows) make a block, laid out [k][group][row]: at each k the block's 64 rows are 128 contiguous
/// bytes, so a one-token pass over a block is a single sequential stream. Read as eight separate per-group streams,
/// Zen 4's prefetchers fell behind (15–17 GB/s from DRAM on one core against 21–26 for one stream; docs/perf.md).
/// The halves stay as stored (no rounding): decode streams the same bytes per weight as before. The last block is
/// padded with zero rows. Memory: a copy the size of the tensor (the original stays mapped for embedding lookups).
/// </summary>
internal sealed unsafe class InterleavedHalfWeights
{
    public const int GroupRows = 8;

    /// <summary>Groups side by side at each k (one block: 64 rows, 128 bytes per k).</summary>
    public const int BlockGroups = 8;

    /// <summary>Halves from element k of a group to element k + 1 of the same group.</summary>
    public const int KStride = BlockGroups * GroupRows;

    private readonly ushort* _halves; // [Blocks, InFeatures, BlockGroups, GroupRows] fp16 or bf16 bits
    private readonly long _bytes;
    private float* _widened; // null, or the same values as fp32 in the same layout (WidenF16ToF32)

    private InterleavedHalfWeights(int groups, int inFeatures)
    {
        Groups = groups;
        InFeatures = inFeatures;
        _bytes = (long)BlockCount(groups) * inFeatures * KStride * sizeof(ushort);
        _halves = (ushort*)NativeMemory.AlignedAlloc((nuint)_bytes, 64);
        NativeMemory.Clear(_halves, (nuint)_bytes); // the padding rows
        GC.AddMemoryPressure(_bytes);
    }

    ~InterleavedHalfWeights()
    {
        NativeMemory.AlignedFree(_halves);
        GC.RemoveMemoryPressure(_bytes);
        if (_widened == null) return;
        NativeMemory.AlignedFree(_widened);
        GC.RemoveMemoryPressure(2 * _bytes);
    }

    public int Groups { get; }
    public int InFeatures { get; }

    /// <summary>
    /// Group g's element 0 (rows 8g..8g+7); element k is <see cref="KStride"/> · k halves further. Groups of one
    /// block are adjacent at each k: group g + 1 starts GroupRows halves after group g unless g + 1 starts a block.
    /// </summary>
    public ushort* Group(int g) => _halves + Offset(g);

    /// <summary>Whether <see cref="WidenF16ToF32"/> made an fp32 copy, which the batched F16 kernel then reads.</summary>
    public bool HasWidenedCopy => _widened != null;

    /// <summary>Group g of the fp32 copy, laid out as <see cref="Group"/>.</summary>
    public float* WidenedGroup(int g) => _widened + Offset(g);

    /// <summary>Element offset of group g's element 0 (halves, or floats in the copy).</summary>
    private long Offset(int g) => (long)(g / BlockGroups) * InFeatures * KStride + g % BlockGroups * GroupRows;

    private static int BlockCount(int groups) => (groups + BlockGroups - 1) / BlockGroups;

    /// <summary>Bytes of the fp32 copy (0 without one).</summary>
    public long WidenedBytes => _widened == null ? 0 : 2 * _bytes;

    /// <summary>
    /// Keeps an fp32 copy of F16 weights beside the halves (twice their bytes more): batches of many tokens then read
    /// fp32 directly instead of widening the halves (a panel per token tile on AVX2, in registers on AVX-512), while
    /// decode keeps streaming the halves. The values are the halves' exactly (the repack refused infinities and NaNs),
    /// so the bits of every output stay the same.
    /// Needs AVX2, as the kernels that read the copy do.
    /// </summary>
    public void WidenF16ToF32()
    {
        if (!Avx2.IsSupported) throw new PlatformNotSupportedException("The fp32 copy of F16 weights is read by the AVX2 and AVX-512 kernels only.");
        if (_widened != null) return;
        _widened = (float*)NativeMemory.AlignedAlloc((nuint)(2 * _bytes), 64);
        GC.AddMemoryPressure(2 * _bytes);
        long count = (long)BlockCount(Groups) * InFeatures * KStride;
        for (long i = 0; i < count; i += GroupRows)
            Avx.Store(_widened + i, ExactHalves.Load8(_halves + i));
    }

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
        for (int o = 0; o < outFeatures; o++)
        {
            ushort* src = rows + (long)o * inFeatures;
            ushort* dst = packed.Group(o / GroupRows) + o % GroupRows;
            for (int k = 0; k < inFeatures; k++) dst[(long)k * KStride] = src[k];
        }
        return packed;
    }
}
