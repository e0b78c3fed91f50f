using System.Runtime.Intrinsics;
using Loom.Backends.Cpu.Kernels;
using Loom.Backends.Cpu.Native;
using Loom.Backends.Cpu.Quantized;
using Loom.Backends.Tests.Cpu;
using Loom.Models.Weights;

namespace Loom.Backends.Tests.Gguf;

/// <summary>
/// The 512-bit kernels of the 32-value block types (<see cref="IInterleavedBlock.Tokens8Pair"/>, two groups of eight
/// rows per zmm, walked by <see cref="InterleavedTiles.RunPairs"/>) give the same bits as the 256-bit kernels for every
/// (row, token): token counts 1..33 (eight-token pair tiles, then four and single tokens per group), an odd number of
/// groups (a lone last group), a partial last group and row ranges that cut groups and pairs. Both paths run in the
/// same process: the 256-bit one is asked for explicitly. Against the double reference the 512-bit path is covered by
/// <see cref="InterleavedKernelTests"/>, whose layers dispatch to it on an AVX-512 machine. Skipped without AVX-512.
/// </summary>
public unsafe class InterleavedAvx512Tests
{
    /// <summary>What neither path writes: an output lane outside the row range must keep it.</summary>
    private static readonly float Unwritten = BitConverter.Int32BitsToSingle(0x7FC0DEAD);

    [SkippableTheory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    [InlineData(DType.Q4_1)]
    [InlineData(DType.Q5_0)]
    [InlineData(DType.Q5_1)]
    public void Avx512KernelsGiveTheAvx2Bits(DType dtype)
    {
        Skip.If(!CpuIsa.Avx512, "no AVX-512 here: the 512-bit kernels cannot run (the 256-bit ones are tested elsewhere)");
        AssertSameBits(dtype, (int)dtype * 31 + 5, (avx512: true, native: false, "AVX-512"), (avx512: false, native: false, "AVX2"));
    }

    /// <summary>
    /// The native AVX512-VNNI pair tiles (<see cref="NativeCpuKernels"/>) give the managed 512-bit kernels' bits for
    /// every (row, token), over the same shapes and row ranges, and write nothing outside the range. Skipped where they
    /// do not load (no AVX512-VNNI, or no C compiler at build time: <see cref="NativeKernelsLoadWhereTheyCan"/>).
    /// </summary>
    [SkippableTheory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    [InlineData(DType.Q4_1)]
    [InlineData(DType.Q5_0)]
    [InlineData(DType.Q5_1)]
    public void NativeKernelsGiveTheManagedBits(DType dtype)
    {
        Skip.If(!NativeCpuKernels.Available, $"native kernels {NativeCpuKernels.Status}");
        AssertSameBits(dtype, (int)dtype * 17 + 3, (avx512: true, native: true, "native"), (avx512: true, native: false, "managed"));
    }

    /// <summary>
    /// Five blocks a row and 37 rows (five groups: two pairs and a lone group, the last partial), 1..33 tokens, seven row
    /// ranges: <paramref name="tested"/> gives <paramref name="reference"/>'s bits for every (row, token), and leaves
    /// every lane outside the range as it was.
    /// </summary>
    private static void AssertSameBits(DType dtype, int seed, (bool avx512, bool native, string name) tested, (bool avx512, bool native, string name) reference)
    {
        const int inFeatures = 160, outFeatures = 37, maxTokens = 33;
        long rowBytes = BlockKernelTests.RowBytes(dtype, inFeatures);
        var rng = new Random(seed);
        var bytes = QuantizedLinearTests.RandomBlocks(dtype, rowBytes * outFeatures, rng);
        var x = BlockKernelTests.RandomInputs(maxTokens * inFeatures, rng);
        var got = new float[maxTokens * outFeatures];
        var expected = new float[maxTokens * outFeatures];
        fixed (byte* data = bytes)
        fixed (float* xp = x, gp = got, ep = expected)
        {
            var weights = InterleavedWeights.TryCreate(data, rowBytes, outFeatures, inFeatures / 32, InterleavedLayout.For(dtype)!);
            Assert.NotNull(weights);
            var q8 = new Q8Activations();
            q8.Quantize(xp, inFeatures, maxTokens, inFeatures);
            // Whole; cutting the first group and the last; one row; starting at a pair's second group; one pair; two pairs.
            foreach (var (start, end) in new[] { (0, 37), (3, 29), (5, 6), (9, 37), (16, 32), (8, 24), (0, 32) })
                for (int numTokens = 1; numTokens <= maxTokens; numTokens++)
                {
                    Array.Fill(got, Unwritten);
                    Array.Fill(expected, Unwritten);
                    Compute(dtype, weights, q8, numTokens, gp, outFeatures, start, end, tested.avx512, tested.native);
                    Compute(dtype, weights, q8, numTokens, ep, outFeatures, start, end, reference.avx512, reference.native);
                    for (int i = 0; i < numTokens * outFeatures; i++)
                    {
                        int row = i % outFeatures;
                        Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(got[i]),
                            $"{dtype} rows [{start}, {end}) x {numTokens} tokens: token {i / outFeatures} row {row}: {got[i]} ({tested.name}) vs {expected[i]} ({reference.name})");
                        bool inRange = row >= start && row < end;
                        Assert.Equal(!inRange, BitConverter.SingleToInt32Bits(got[i]) == BitConverter.SingleToInt32Bits(Unwritten));
                    }
                }
        }
    }

    /// <summary>
    /// Where the CPU has AVX512-VNNI and this machine has a C compiler (as the build that ran these tests did), the
    /// native kernels load: a build that silently stopped producing them fails here, not in a benchmark.
    /// </summary>
    [SkippableFact]
    public void NativeKernelsLoadWhereTheyCan()
    {
        Skip.If(!CpuIsa.Avx512 || !NativeCpuKernels.CpuHasAvx512Vnni, "no AVX512-VNNI here");
        NativeKernelBuild.SkipUnlessExpected();
        Assert.True(NativeCpuKernels.Available, $"native kernels {NativeCpuKernels.Status}");
    }

    /// <summary>Two groups' fp16 scales widen to exactly (float)Half in their lanes, for every finite bit pattern.</summary>
    [SkippableFact]
    public void HalfScalesOfTwoGroupsWidenExactly()
    {
        Skip.If(!CpuIsa.Avx512, "no AVX-512 here: the 512-bit widening cannot run");
        var halves = new ushort[16];
        fixed (ushort* hp = halves)
            for (int start = 0; start < 65536; start += 16)
            {
                // Group 1's lanes take the patterns in reverse, so each half of the vector sees both signs' ranges.
                for (int i = 0; i < 8; i++) (halves[i], halves[8 + i]) = ((ushort)(start + i), (ushort)(65535 - start - 8 - i));
                var v = InterleavedGemm.HalvesToSingles16(hp, hp + 8);
                for (int i = 0; i < 16; i++)
                {
                    if ((halves[i] & 0x7C00) == 0x7C00) continue;
                    Assert.Equal(BitConverter.SingleToInt32Bits((float)BitConverter.UInt16BitsToHalf(halves[i])), BitConverter.SingleToInt32Bits(v.GetElement(i)));
                }
            }
    }

    private static void Compute(DType dtype, InterleavedWeights w, Q8Activations q8, int numTokens, float* y, int yStride, int start, int end, bool avx512,
        bool native)
    {
        switch (dtype)
        {
            case DType.Q8_0: Compute<Q8_0x8>(w, q8, numTokens, y, yStride, start, end, avx512, native); break;
            case DType.Q4_0: Compute<Nibblesx8<Q4_0Format>>(w, q8, numTokens, y, yStride, start, end, avx512, native); break;
            case DType.Q4_1: Compute<Nibblesx8<Q4_1Format>>(w, q8, numTokens, y, yStride, start, end, avx512, native); break;
            case DType.Q5_0: Compute<Nibblesx8<Q5_0Format>>(w, q8, numTokens, y, yStride, start, end, avx512, native); break;
            case DType.Q5_1: Compute<Nibblesx8<Q5_1Format>>(w, q8, numTokens, y, yStride, start, end, avx512, native); break;
            default: throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null);
        }
    }

    private static void Compute<TBlock>(InterleavedWeights w, Q8Activations q8, int numTokens, float* y, int yStride, int start, int end, bool avx512, bool native)
        where TBlock : struct, IInterleavedBlock
    {
        var pair = native ? NativeCpuKernels.PairKernels<TBlock>() : default;
        Assert.True(!native || pair.Present, $"no native kernels for {typeof(TBlock).Name}");
        InterleavedGemm.ComputeRows<TBlock>(w, q8, numTokens, y, yStride, start, end, avx512, pair);
    }
}
