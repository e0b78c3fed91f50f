using Loom.Models.Weights;

namespace Loom.Models.Tests.Checkpoints;

public class HalfConvertTests
{
    [Theory]
    [InlineData(1.0f, (ushort)0x3F80)]
    [InlineData(-2.0f, (ushort)0xC000)]
    [InlineData(0.0f, (ushort)0x0000)]
    [InlineData(float.PositiveInfinity, (ushort)0x7F80)]
    public void BF16ExactValues(float value, ushort bits)
    {
        Assert.Equal(bits, HalfConvert.F32ToBF16(value));
        Assert.Equal(value, HalfConvert.BF16ToF32(bits));
    }

    [Fact]
    public void BF16RoundsToNearestEven()
    {
        // 1 + 2^-8 is exactly halfway between bf16 1.0 (even mantissa) and the next value: ties go to even.
        Assert.Equal(0x3F80, HalfConvert.F32ToBF16(BitConverter.UInt32BitsToSingle(0x3F80_8000)));
        // Halfway above an odd mantissa rounds up to even.
        Assert.Equal(0x3F82, HalfConvert.F32ToBF16(BitConverter.UInt32BitsToSingle(0x3F81_8000)));
        // Just above halfway rounds up.
        Assert.Equal(0x3F81, HalfConvert.F32ToBF16(BitConverter.UInt32BitsToSingle(0x3F80_8001)));
        // Rounding past the largest finite value overflows to infinity, as in PyTorch.
        Assert.Equal(0x7F80, HalfConvert.F32ToBF16(float.MaxValue));
        Assert.True(float.IsNaN(HalfConvert.BF16ToF32(HalfConvert.F32ToBF16(float.NaN))));
        // A NaN whose payload sits only in the low bits must stay NaN, not become infinity.
        Assert.True(float.IsNaN(HalfConvert.BF16ToF32(HalfConvert.F32ToBF16(BitConverter.UInt32BitsToSingle(0x7F80_0001)))));
    }

    /// <summary>The SIMD span paths equal the scalar paths for every length around the vector widths.</summary>
    [Fact]
    public void SpansMatchScalar()
    {
        var rng = new Random(7);
        for (int n = 0; n < 70; n++)
        {
            var f32 = new float[n];
            for (int i = 0; i < n; i++)
                f32[i] = i % 11 == 10 ? float.NaN : BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32));
            var bf16 = new ushort[n];
            var f16 = new ushort[n];
            HalfConvert.F32ToBF16(f32, bf16);
            HalfConvert.F32ToF16(f32, f16);
            var back = new float[n];
            var backHalf = new float[n];
            HalfConvert.BF16ToF32(bf16, back);
            HalfConvert.F16ToF32(f16, backHalf);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(HalfConvert.F32ToBF16(f32[i]), bf16[i]);
                Assert.Equal(BitConverter.HalfToUInt16Bits((Half)f32[i]) & 0x7FFF, f16[i] & 0x7FFF);
                Assert.Equal(HalfConvert.BF16ToF32(bf16[i]), back[i]);
                Assert.Equal((float)BitConverter.UInt16BitsToHalf(f16[i]), backHalf[i]);
            }
        }
    }

    [Fact]
    public void EveryBF16AndF16BitPatternRoundTrips()
    {
        var all = new ushort[65536];
        for (int i = 0; i < all.Length; i++) all[i] = (ushort)i;
        var f32 = new float[all.Length];
        var back = new ushort[all.Length];
        HalfConvert.BF16ToF32(all, f32);
        HalfConvert.F32ToBF16(f32, back);
        for (int i = 0; i < all.Length; i++)
            if (!float.IsNaN(f32[i])) Assert.Equal(all[i], back[i]);
        HalfConvert.F16ToF32(all, f32);
        HalfConvert.F32ToF16(f32, back);
        for (int i = 0; i < all.Length; i++)
            if (!float.IsNaN(f32[i])) Assert.Equal(all[i], back[i]);
    }

    [Fact]
    public void ShortDestinationIsRejected()
    {
        Assert.Throws<ArgumentException>(() => HalfConvert.BF16ToF32(new ushort[4], new float[3]));
    }
}
