using Loom.Backends.Cpu;
using Loom.Backends.Cpu.Kernels;
using Loom.Backends.Cpu.Native;
using Loom.Models.Weights;

namespace Loom.Backends.Tests.Cpu;

/// <summary>F16 and BF16 weights repacked eight rows side by side (<see cref="InterleavedHalfGemm"/>).</summary>
public unsafe class InterleavedHalfTests
{
    [Theory]
    [InlineData(DType.F16, 13, 37)]   // two groups, the second partial; odd columns
    [InlineData(DType.F16, 19, 1101)] // three groups (an odd one at the end of the pair loop)
    [InlineData(DType.F16, 40, 5)]    // five groups: one four-group decode pass and a repeated-group one
    [InlineData(DType.BF16, 13, 37)]
    [InlineData(DType.BF16, 19, 1101)]
    [InlineData(DType.BF16, 40, 5)]
    [InlineData(DType.F16, 150, 37)]  // three blocks of eight groups, the last partial
    [InlineData(DType.BF16, 150, 37)]
    [InlineData(DType.F16, 200, 29)]  // four blocks: one token reads them two at a time, the second pair partial
    [InlineData(DType.BF16, 200, 29)]
    public void EveryBatchShape_MatchesDoubleReference_AndEachTokenAloneIsBitIdentical(DType dtype, int outFeatures, int inFeatures)
    {
        using var tensors = new TestTensors();
        const int maxTokens = 33;
        var linear = CpuLinear.Create(tensors.Create("w", dtype, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 20), out var stored));
        Assert.IsType<InterleavedHalfLinear>(linear);
        var x = TestTensors.Random(maxTokens * inFeatures, 21);
        var alone = new float[maxTokens][];
        for (int t = 0; t < maxTokens; t++)
        {
            alone[t] = Run(linear, x.AsSpan(t * inFeatures, inFeatures).ToArray(), 1);
            for (int o = 0; o < outFeatures; o++)
            {
                double expected = 0;
                for (int k = 0; k < inFeatures; k++) expected += (double)stored[o * inFeatures + k] * x[t * inFeatures + k];
                Assert.True(Math.Abs(alone[t][o] - expected) <= 1e-5 * Math.Sqrt(inFeatures), $"y[{t},{o}] = {alone[t][o]}, expected {expected}");
            }
        }
        for (int numTokens = 1; numTokens <= maxTokens; numTokens++)
        {
            var together = Run(linear, x.AsSpan(0, numTokens * inFeatures).ToArray(), numTokens);
            for (int t = 0; t < numTokens; t++)
                Assert.True(alone[t].AsSpan().SequenceEqual(together.AsSpan(t * outFeatures, outFeatures)), $"token {t} of a batch of {numTokens} differs from the token alone");
        }
    }

    [Theory]
    [InlineData(DType.F16, 13, 1024, 70)]  // one k-chunk, two token tiles (60 tokens fit one)
    [InlineData(DType.F16, 19, 2053, 100)] // three k-chunks of an odd row, two token tiles, an odd last group
    [InlineData(DType.BF16, 13, 1024, 70)]  // BF16 stays on the tiled path: the same proof for it
    [InlineData(DType.BF16, 19, 2053, 100)]
    public void LargeBatches_AcrossTokenTilesAndKChunks_MatchDoubleReference_AndEachTokenAloneIsBitIdentical(DType dtype, int outFeatures,
        int inFeatures, int numTokens)
    {
        Assert.True(numTokens >= InterleavedHalfGemm.PackMinTokens && inFeatures > InterleavedHalfGemm.PanelDepth / 2);
        using var tensors = new TestTensors();
        var linear = CpuLinear.Create(tensors.Create("w", dtype, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 30), out var stored));
        var x = TestTensors.Random(numTokens * inFeatures, 31);
        var together = RunInRanges(linear, x, numTokens, 3, 11); // cuts group 0 and the second group of the first pair
        for (int t = 0; t < numTokens; t++)
        {
            var alone = Run(linear, x.AsSpan(t * inFeatures, inFeatures).ToArray(), 1);
            Assert.True(alone.AsSpan().SequenceEqual(together.AsSpan(t * outFeatures, outFeatures)), $"token {t} of a batch of {numTokens} differs from the token alone");
            for (int o = 0; o < outFeatures; o++)
            {
                double expected = 0;
                for (int k = 0; k < inFeatures; k++) expected += (double)stored[o * inFeatures + k] * x[t * inFeatures + k];
                Assert.True(Math.Abs(together[t * outFeatures + o] - expected) <= 1e-5 * Math.Sqrt(inFeatures), $"y[{t},{o}] = {together[t * outFeatures + o]}, expected {expected}");
            }
        }
    }

    [Theory]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void PackedPanels_GiveTheTiledBits_ForEveryBatchSize_AndRowRangesThatCutGroups(DType dtype)
    {
        if (!DenseGemm.UseAvx2) return; // both paths need AVX2 (the portable path has its own test)
        using var tensors = new TestTensors();
        const int outFeatures = 19, inFeatures = 1101, maxTokens = 33; // two k-chunks, an odd last group
        var w = tensors.Create("w", dtype, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 32), out _);
        var packed = InterleavedHalfWeights.Create((ushort*)w.Data, outFeatures, inFeatures);
        var x = TestTensors.Random(maxTokens * inFeatures, 33);
        int[] bounds = [0, 3, 11, outFeatures];
        for (int numTokens = 1; numTokens <= maxTokens; numTokens++)
        {
            var tiled = new float[numTokens * outFeatures];
            var panels = new float[numTokens * outFeatures];
            fixed (float* px = x, pt = tiled, pp = panels)
                for (int i = 0; i + 1 < bounds.Length; i++)
                {
                    if (dtype == DType.F16)
                    {
                        InterleavedHalfGemm.ComputeRowsTiledF16(packed, px, inFeatures, numTokens, pt, outFeatures, bounds[i], bounds[i + 1]);
                        InterleavedHalfGemm.ComputeRowsPacked<ExactHalves>(packed, px, inFeatures, numTokens, pp, outFeatures, bounds[i], bounds[i + 1]);
                    }
                    else
                    {
                        InterleavedHalfGemm.ComputeRowsTiledBf16(packed, px, inFeatures, numTokens, pt, outFeatures, bounds[i], bounds[i + 1]);
                        InterleavedHalfGemm.ComputeRowsPacked<Bf16Halves>(packed, px, inFeatures, numTokens, pp, outFeatures, bounds[i], bounds[i + 1]);
                    }
                }
            Assert.True(tiled.AsSpan().SequenceEqual(panels), $"a batch of {numTokens}: the packed path's bits differ from the tiled path's");
        }
    }

    /// <summary>
    /// Row ranges that start and end inside a block of eight groups (as a thread's share may) give the bits of the
    /// whole range: the one-token kernel computes the whole block and stores only the range's rows.
    /// </summary>
    [Theory]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void RowRangesThatCutBlocks_GiveTheWholeRangesBits(DType dtype)
    {
        using var tensors = new TestTensors();
        const int outFeatures = 150, inFeatures = 37, maxTokens = 13;
        var w = tensors.Create("w", dtype, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 36), out _);
        var packed = InterleavedHalfWeights.Create((ushort*)w.Data, outFeatures, inFeatures);
        var x = TestTensors.Random(maxTokens * inFeatures, 37);
        int[] bounds = [0, 5, 64, 70, 128, 131, outFeatures];
        for (int numTokens = 1; numTokens <= maxTokens; numTokens++)
        {
            var whole = new float[numTokens * outFeatures];
            var pieces = new float[numTokens * outFeatures];
            fixed (float* px = x, pw = whole, pp = pieces)
            {
                Compute(dtype, packed, px, inFeatures, numTokens, pw, outFeatures, 0, outFeatures);
                for (int i = 0; i + 1 < bounds.Length; i++)
                    Compute(dtype, packed, px, inFeatures, numTokens, pp, outFeatures, bounds[i], bounds[i + 1]);
            }
            Assert.True(whole.AsSpan().SequenceEqual(pieces), $"a batch of {numTokens}: ranges cutting blocks differ from the whole range");
        }
    }

    private static void Compute(DType dtype, InterleavedHalfWeights w, float* x, int xStride, int numTokens, float* y, int yStride,
        int rowStart, int rowEnd)
    {
        if (dtype == DType.F16) InterleavedHalfGemm.ComputeRowsF16(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
        else InterleavedHalfGemm.ComputeRowsBf16(w, x, xStride, numTokens, y, yStride, rowStart, rowEnd);
    }

    /// <summary>
    /// The fp32 copy (<see cref="F16Widening"/>) holds the halves' values exactly, so the packed path reading it gives
    /// the bits of the panels it replaces, for every batch size, k-chunks and row ranges that cut groups.
    /// </summary>
    [Fact]
    public void WidenedCopy_GivesThePanelBits_ForEveryBatchSize_AndRowRangesThatCutGroups()
    {
        if (!DenseGemm.UseAvx2) return; // the packed path needs AVX2
        using var tensors = new TestTensors();
        const int outFeatures = 19, inFeatures = 1101, maxTokens = 40; // two k-chunks, an odd last group
        var w = tensors.Create("w", DType.F16, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 34), out _);
        var panels = InterleavedHalfWeights.Create((ushort*)w.Data, outFeatures, inFeatures);
        var widened = InterleavedHalfWeights.Create((ushort*)w.Data, outFeatures, inFeatures);
        widened.WidenF16ToF32();
        Assert.True(widened.HasWidenedCopy);
        Assert.Equal(4L * ((outFeatures + 63) / 64 * 64) * inFeatures, widened.WidenedBytes); // padded to a whole block
        var x = TestTensors.Random(maxTokens * inFeatures, 35);
        int[] bounds = [0, 3, 11, outFeatures];
        for (int numTokens = 1; numTokens <= maxTokens; numTokens++)
        {
            var expected = new float[numTokens * outFeatures];
            var actual = new float[numTokens * outFeatures];
            fixed (float* px = x, pe = expected, pa = actual)
                for (int i = 0; i + 1 < bounds.Length; i++)
                {
                    InterleavedHalfGemm.ComputeRowsPacked<ExactHalves>(panels, px, inFeatures, numTokens, pe, outFeatures, bounds[i], bounds[i + 1]);
                    InterleavedHalfGemm.ComputeRowsPacked<ExactHalves>(widened, px, inFeatures, numTokens, pa, outFeatures, bounds[i], bounds[i + 1]);
                }
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"a batch of {numTokens}: the fp32 copy's bits differ from the panels'");
        }
    }

    [SkippableTheory]
    [InlineData(DType.F16, 40, 37, false)]   // five groups: a four-group pass and one with the last group repeated
    [InlineData(DType.F16, 19, 1101, false)] // two k-chunks on the packed path, an odd last group
    [InlineData(DType.F16, 13, 5, true)]     // an input past 2^16: the tiles widen exactly instead of scaled
    [InlineData(DType.BF16, 40, 37, false)]
    [InlineData(DType.BF16, 19, 1101, false)]
    [InlineData(DType.BF16, 13, 5, true)]
    [InlineData(DType.BF16, 150, 37, false)] // three blocks, ranges that cut them
    public void Avx512Kernels_GiveTheAvx2Bits_ForEveryBatchSize_AndRowRangesThatCutGroups(DType dtype, int outFeatures, int inFeatures,
        bool largeInput)
    {
        Skip.If(!CpuIsa.Avx512, "the 512-bit kernels need AVX-512 (F, BW, DQ, VL)");
        using var tensors = new TestTensors();
        const int maxTokens = 33;
        var w = tensors.Create("w", dtype, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 34), out var stored);
        var packed = InterleavedHalfWeights.Create((ushort*)w.Data, outFeatures, inFeatures);
        var x = TestTensors.Random(maxTokens * inFeatures, 35);
        if (largeInput) x[2 * inFeatures + 3] = -1e5f;
        // Ranges of one to four groups, cut mid-group; past one block, ranges that start and end inside blocks.
        int[] bounds = outFeatures > 64 ? [0, 3, 11, 29, 70, 129, outFeatures] : outFeatures > 24 ? [0, 3, 11, 29, outFeatures] : [0, 3, 11, outFeatures];
        for (int numTokens = 1; numTokens <= maxTokens; numTokens++)
        {
            var narrow = new float[numTokens * outFeatures];
            var wide = new float[numTokens * outFeatures];
            var narrowPacked = new float[numTokens * outFeatures];
            fixed (float* px = x, pn = narrow, pw = wide, pnp = narrowPacked)
                for (int i = 0; i + 1 < bounds.Length; i++)
                {
                    int rowStart = bounds[i], rowEnd = bounds[i + 1];
                    if (dtype == DType.F16)
                    {
                        InterleavedHalfGemm.ComputeRowsTiledF16(packed, px, inFeatures, numTokens, pn, outFeatures, rowStart, rowEnd);
                        InterleavedHalfGemm.ComputeRowsTiledF16Avx512(packed, px, inFeatures, numTokens, pw, outFeatures, rowStart, rowEnd);
                        InterleavedHalfGemm.ComputeRowsPacked<ExactHalves>(packed, px, inFeatures, numTokens, pnp, outFeatures, rowStart, rowEnd);
                    }
                    else
                    {
                        InterleavedHalfGemm.ComputeRowsTiledBf16(packed, px, inFeatures, numTokens, pn, outFeatures, rowStart, rowEnd);
                        InterleavedHalfGemm.ComputeRowsTiledBf16Avx512(packed, px, inFeatures, numTokens, pw, outFeatures, rowStart, rowEnd);
                        InterleavedHalfGemm.ComputeRowsPacked<Bf16Halves>(packed, px, inFeatures, numTokens, pnp, outFeatures, rowStart, rowEnd);
                    }
                }
            Assert.True(narrow.AsSpan().SequenceEqual(wide), $"a batch of {numTokens}: the 512-bit tile's bits differ from the AVX2 tile's");
            Assert.True(narrow.AsSpan().SequenceEqual(narrowPacked), $"a batch of {numTokens}: the AVX2 packed path's bits differ from the tile's");
            AssertNearDoubleReference(wide, outFeatures, stored, x, inFeatures, numTokens, outFeatures, inFeatures);
        }
    }

    [SkippableTheory]
    [InlineData(DType.F16, 43, 301, false)]  // six groups: ranges of one, three (a quad with its last group repeated) and four groups
    [InlineData(DType.F16, 43, 1999, false)] // 30-token tiles: a batch spans several, each with twelve-token blocks and a rest
    [InlineData(DType.F16, 21, 77, true)]    // an input past 2^16: the exact widening reads the caller's strided rows
    [InlineData(DType.BF16, 43, 301, false)]
    [InlineData(DType.BF16, 43, 1999, false)]
    [InlineData(DType.BF16, 21, 77, true)]
    public void Avx512Kernels_GiveTheAvx2Bits_WithStridedRows_AcrossTokenTiles(DType dtype, int outFeatures, int inFeatures,
        bool largeInput)
    {
        Skip.If(!CpuIsa.Avx512, "the 512-bit kernels need AVX-512 (F, BW, DQ, VL)");
        using var tensors = new TestTensors();
        const int maxTokens = 200;
        int xStride = inFeatures + 5, yStride = outFeatures + 3; // rows wider than the data: the kernels must use the strides
        var w = tensors.Create("w", dtype, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 36), out var stored);
        var packed = InterleavedHalfWeights.Create((ushort*)w.Data, outFeatures, inFeatures);
        var widened = InterleavedHalfWeights.Create((ushort*)w.Data, outFeatures, inFeatures); // F16: read from the fp32 copy from WidenedMinTokens on
        if (dtype == DType.F16) widened.WidenF16ToF32();
        var x = TestTensors.Random(maxTokens * xStride, 37);
        if (largeInput) x[30 * xStride + 3] = 1e5f;
        int[] bounds = [0, 5, 21, outFeatures]; // ranges that cut groups 0 and 2
        foreach (int numTokens in new[] { 1, 7, 12, 13, 23, 29, 31, 61, 73, maxTokens }) // lone tokens, 6- and 12-token blocks, tile ends
        {
            var narrow = new float[numTokens * yStride];
            var wide = new float[numTokens * yStride];
            var fromCopy = new float[numTokens * yStride];
            fixed (float* px = x, pn = narrow, pw = wide, pc = fromCopy)
                for (int i = 0; i + 1 < bounds.Length; i++)
                {
                    int rowStart = bounds[i], rowEnd = bounds[i + 1];
                    if (dtype == DType.F16)
                    {
                        InterleavedHalfGemm.ComputeRowsTiledF16(packed, px, xStride, numTokens, pn, yStride, rowStart, rowEnd);
                        InterleavedHalfGemm.ComputeRowsTiledF16Avx512(packed, px, xStride, numTokens, pw, yStride, rowStart, rowEnd);
                        InterleavedHalfGemm.ComputeRowsTiledF16Avx512(widened, px, xStride, numTokens, pc, yStride, rowStart, rowEnd);
                    }
                    else
                    {
                        InterleavedHalfGemm.ComputeRowsTiledBf16(packed, px, xStride, numTokens, pn, yStride, rowStart, rowEnd);
                        InterleavedHalfGemm.ComputeRowsTiledBf16Avx512(packed, px, xStride, numTokens, pw, yStride, rowStart, rowEnd);
                    }
                }
            Assert.True(narrow.AsSpan().SequenceEqual(wide), $"a batch of {numTokens}: the 512-bit tile's bits differ from the AVX2 tile's");
            if (dtype == DType.F16)
                Assert.True(narrow.AsSpan().SequenceEqual(fromCopy), $"a batch of {numTokens}: the 512-bit tile over the fp32 copy differs from the AVX2 tile");
            AssertNearDoubleReference(wide, yStride, stored, x, xStride, numTokens, outFeatures, inFeatures);
        }
    }

    /// <summary>
    /// The native F16C tile (<see cref="NativeCpuKernels.F16Gemm"/>) gives the managed AVX2 tile's bits for every (row,
    /// token): strided rows, token counts across its six-token blocks and 256 KiB token tiles, rows cut into k-chunks,
    /// ranges that cut groups, pairs, blocks and the one-token pass's pairs of blocks; and it writes nothing outside the
    /// range (the columns past the rows).
    /// Skipped where it does not load (<see cref="NativeF16TileLoadsWhereItCan"/>).
    /// </summary>
    [SkippableTheory]
    [InlineData(43, 301, false)]  // six groups: ranges of one, three and four groups
    [InlineData(19, 2053, false)] // three k-chunks of an odd row, an odd last group
    [InlineData(150, 37, false)]  // three blocks, the last partial
    [InlineData(300, 29, false)]  // five blocks: one token reads them in pairs, a pair cut by the range's end
    [InlineData(21, 77, true)]    // an input past 2^16: the managed tile then widens exactly instead of scaled
    public void NativeF16Tile_GivesTheManagedBits_WithStridedRows_AcrossTilesAndKChunks(int outFeatures, int inFeatures, bool largeInput)
    {
        var native = NativeCpuKernels.F16Gemm;
        Skip.If(native == null, $"native kernels {NativeCpuKernels.Status}");
        using var tensors = new TestTensors();
        int xStride = inFeatures + 5, yStride = outFeatures + 3; // rows wider than the data: the kernels must use the strides
        var w = tensors.Create("w", DType.F16, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 38), out var stored);
        var packed = InterleavedHalfWeights.Create((ushort*)w.Data, outFeatures, inFeatures);
        const int maxTokens = 200;
        var x = TestTensors.Random(maxTokens * xStride, 39);
        if (largeInput) x[3 * xStride + 3] = 1e5f;
        int[] bounds = outFeatures > 70 ? [0, 5, 21, 64, 70, outFeatures] : outFeatures > 21 ? [0, 5, 11, 21, outFeatures] : [0, 5, 11, outFeatures]; // cut groups, pairs, a block
        var unwritten = BitConverter.Int32BitsToSingle(0x7FC0DEAD);
        foreach (int numTokens in new[] { 1, 2, 3, 5, 6, 7, 11, 12, 13, 23, 31, 61, 73, 100, maxTokens })
        {
            var managed = new float[numTokens * yStride];
            var fromNative = new float[numTokens * yStride];
            Array.Fill(fromNative, unwritten);
            fixed (float* px = x, pm = managed, pn = fromNative)
                for (int i = 0; i + 1 < bounds.Length; i++)
                {
                    InterleavedHalfGemm.ComputeRowsTiledF16(packed, px, xStride, numTokens, pm, yStride, bounds[i], bounds[i + 1]);
                    native(packed.Group(0), inFeatures, px, xStride, numTokens, pn, yStride, bounds[i], bounds[i + 1]);
                }
            for (int t = 0; t < numTokens; t++)
                for (int o = 0; o < yStride; o++)
                {
                    float expected = o < outFeatures ? managed[t * yStride + o] : unwritten, actual = fromNative[t * yStride + o];
                    Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual),
                        $"a batch of {numTokens}: y[{t},{o}] is {actual} from the native tile, {expected} from the managed one");
                }
            AssertNearDoubleReference(fromNative, yStride, stored, x, xStride, numTokens, outFeatures, inFeatures);
        }
    }

    /// <summary>
    /// Where the CPU has AVX2, FMA and F16C and a C compiler built the library (as for the build running these tests), the
    /// F16C tile loads: a build that silently stopped producing it fails here, not in a benchmark.
    /// </summary>
    [SkippableFact]
    public void NativeF16TileLoadsWhereItCan()
    {
        Skip.If(!CpuIsa.Avx2 || !NativeCpuKernels.CpuHasF16c, "no AVX2, FMA and F16C here");
        NativeKernelBuild.SkipUnlessExpected();
        Assert.True(NativeCpuKernels.F16Gemm != null, $"native kernels {NativeCpuKernels.Status}");
    }

    [SkippableFact]
    public void Avx512Widening_IsTheAvx2WideningLaneForLane_ForEveryHalf()
    {
        Skip.If(!CpuIsa.Avx512, "the 16-lane widenings need AVX-512 (F, BW, DQ, VL)");
        var halves = new ushort[16];
        for (int start = 0; start < 0x10000; start += 16)
        {
            for (int i = 0; i < 16; i++) halves[i] = (ushort)(start + i);
            fixed (ushort* h = halves)
            {
                // Lanes 0-7 from the first eight halves, 8-15 from the next eight.
                AssertLanes(ExactHalves.Load16(h), ExactHalves.Load8(h), ExactHalves.Load8(h + 8), finiteOnly: true);
                AssertLanes(ScaledHalves.Load16(h), ScaledHalves.Load8(h), ScaledHalves.Load8(h + 8), finiteOnly: true);
                AssertLanes(Bf16Halves.Load16(h), Bf16Halves.Load8(h), Bf16Halves.Load8(h + 8), finiteOnly: false);
            }
        }

        void AssertLanes(System.Runtime.Intrinsics.Vector512<float> wide, System.Runtime.Intrinsics.Vector256<float> lower,
            System.Runtime.Intrinsics.Vector256<float> upper, bool finiteOnly)
        {
            for (int i = 0; i < 8; i++)
            {
                // fp16 infinities and NaNs never reach the kernels (TryCreateF16); their bits may differ.
                if (finiteOnly && ((halves[i] & 0x7C00) == 0x7C00 || (halves[i + 8] & 0x7C00) == 0x7C00)) continue;
                Assert.Equal(BitConverter.SingleToInt32Bits(lower[i]), BitConverter.SingleToInt32Bits(wide[i]));
                Assert.Equal(BitConverter.SingleToInt32Bits(upper[i]), BitConverter.SingleToInt32Bits(wide[i + 8]));
            }
        }
    }

    [Fact]
    public void InputTooLargeToScale_WidensExactly_AndGivesTheSameBitsAsTheTokenAlone()
    {
        using var tensors = new TestTensors();
        const int inFeatures = 45, outFeatures = 16, numTokens = 9;
        var linear = CpuLinear.Create(tensors.Create("w", DType.F16, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 28), out var stored));
        var x = TestTensors.Random(numTokens * inFeatures, 29);
        x[4 * inFeatures + 7] = 1e5f; // token 4: past 2^16, so its tile takes the exact widening
        var together = Run(linear, x, numTokens);
        for (int t = 0; t < numTokens; t++)
        {
            var alone = Run(linear, x.AsSpan(t * inFeatures, inFeatures).ToArray(), 1);
            Assert.Equal(alone, together.AsSpan(t * outFeatures, outFeatures).ToArray());
            for (int o = 0; o < outFeatures; o++)
            {
                double expected = 0;
                for (int k = 0; k < inFeatures; k++) expected += (double)stored[o * inFeatures + k] * x[t * inFeatures + k];
                Assert.True(Math.Abs(alone[o] - expected) <= 1e-5 * Math.Sqrt(inFeatures) * Math.Max(1, Math.Abs(expected)), $"y[{t},{o}] = {alone[o]}, expected {expected}");
            }
        }
    }

    [Fact]
    public void ScaledWidening_TimesScaledInput_IsTheExactProductForEveryFiniteHalf()
    {
        if (!DenseGemm.UseAvx2) return; // the in-register widenings exist only with AVX2
        float twoTo112 = BitConverter.Int32BitsToSingle((127 + 112) << 23);
        float[] inputs = [1f, -0.3f, 65535.9f, 1e-40f, -7.5e-39f, 3.1e-5f];
        var halves = new ushort[8];
        for (int start = 0; start < 0x10000; start += 8)
        {
            for (int i = 0; i < 8; i++) halves[i] = (ushort)((start + i) & 0x7C00) == 0x7C00 ? (ushort)0 : (ushort)(start + i);
            fixed (ushort* h = halves)
            {
                var exact = ExactHalves.Load8(h);
                var scaled = ScaledHalves.Load8(h);
                for (int i = 0; i < 8; i++)
                {
                    Assert.Equal((float)BitConverter.UInt16BitsToHalf(halves[i]), exact[i]);
                    foreach (float x in inputs)
                        Assert.Equal(BitConverter.SingleToInt32Bits(MathF.FusedMultiplyAdd(exact[i], x, 0.25f)),
                            BitConverter.SingleToInt32Bits(MathF.FusedMultiplyAdd(scaled[i], x * twoTo112, 0.25f)));
                }
            }
        }
    }

    [Theory]
    [InlineData(DType.F16, 8, 301)]
    [InlineData(DType.F16, 40, 1301)] // the packed path, two k-chunks
    [InlineData(DType.BF16, 8, 301)]
    [InlineData(DType.BF16, 40, 1301)]
    public void PortablePath_GivesTheSameBitsAsTheVectorKernels(DType dtype, int numTokens, int inFeatures)
    {
        using var tensors = new TestTensors();
        const int outFeatures = 21;
        var w = tensors.Create("w", dtype, [outFeatures, inFeatures], TestTensors.Random(outFeatures * inFeatures, 22), out _);
        var packed = InterleavedHalfWeights.Create((ushort*)w.Data, outFeatures, inFeatures);
        var x = TestTensors.Random(numTokens * inFeatures, 23);
        var vector = new float[numTokens * outFeatures];
        var portable = new float[numTokens * outFeatures];
        fixed (float* px = x, pv = vector, pp = portable)
        {
            if (dtype == DType.F16)
            {
                InterleavedHalfGemm.ComputeRowsF16(packed, px, inFeatures, numTokens, pv, outFeatures, 0, outFeatures);
                InterleavedHalfGemm.ComputeRowsPortable<F16Format>(packed, px, inFeatures, numTokens, pp, outFeatures, 0, outFeatures);
            }
            else
            {
                InterleavedHalfGemm.ComputeRowsBf16(packed, px, inFeatures, numTokens, pv, outFeatures, 0, outFeatures);
                InterleavedHalfGemm.ComputeRowsPortable<Bf16Format>(packed, px, inFeatures, numTokens, pp, outFeatures, 0, outFeatures);
            }
        }
        Assert.Equal(portable, vector);
    }

    [Fact]
    public void BiasAndRowRangeOfAFusedWeight_AreApplied()
    {
        using var tensors = new TestTensors();
        const int inFeatures = 24, numTokens = 7;
        var fused = tensors.Create("qkv", DType.F16, [30, inFeatures], TestTensors.Random(30 * inFeatures, 24), out var stored);
        var bias = tensors.Create("b", DType.F16, [30], TestTensors.Random(30, 25), out var biasStored);
        var x = TestTensors.Random(numTokens * inFeatures, 26);

        var part = CpuLinear.Create(fused, bias, rowOffset: 6, rows: 17);
        var y = Run(part, x, numTokens);

        for (int t = 0; t < numTokens; t++)
            for (int o = 0; o < 17; o++)
            {
                double expected = biasStored[6 + o];
                for (int k = 0; k < inFeatures; k++) expected += (double)stored[(6 + o) * inFeatures + k] * x[t * inFeatures + k];
                Assert.Equal(expected, y[t * 17 + o], 4);
            }
    }

    [Fact]
    public void TensorHoldingAnInfinity_KeepsTheInPlaceKernel()
    {
        using var tensors = new TestTensors();
        var values = TestTensors.Random(8 * 16, 27);
        values[5] = float.PositiveInfinity;
        var linear = CpuLinear.Create(tensors.Create("w", DType.F16, [8, 16], values, out _));
        Assert.IsType<DenseLinear<F16Format>>(linear);
    }

    /// <summary>Each y[t, o] within fp32 rounding of Σ w·x in double (rows of y and x at their strides).</summary>
    private static void AssertNearDoubleReference(float[] y, int yStride, float[] stored, float[] x, int xStride, int numTokens,
        int outFeatures, int inFeatures)
    {
        for (int t = 0; t < numTokens; t++)
            for (int o = 0; o < outFeatures; o++)
            {
                double expected = 0, magnitude = 0;
                for (int k = 0; k < inFeatures; k++)
                {
                    double product = (double)stored[o * inFeatures + k] * x[t * xStride + k];
                    expected += product;
                    magnitude += Math.Abs(product);
                }
                Assert.True(Math.Abs(y[t * yStride + o] - expected) <= 1e-5 * Math.Sqrt(inFeatures) * Math.Max(1, magnitude),
                    $"y[{t},{o}] = {y[t * yStride + o]}, expected {expected}");
            }
    }

    private static float[] Run(CpuLinear linear, float[] x, int numTokens) => SplitRowsRunner.Run(linear, x, numTokens);

    /// <summary>y = x W^T computed in the row ranges between the given cuts (each range as one worker would run it).</summary>
    private static float[] RunInRanges(CpuLinear linear, float[] x, int numTokens, params int[] cuts)
    {
        var y = new float[numTokens * linear.OutFeatures];
        int[] bounds = [0, .. cuts, linear.OutFeatures];
        fixed (float* px = x, py = y)
            for (int i = 0; i + 1 < bounds.Length; i++)
                linear.ComputeRows(px, linear.InFeatures, numTokens, py, linear.OutFeatures, bounds[i], bounds[i + 1]);
        return y;
    }
}
