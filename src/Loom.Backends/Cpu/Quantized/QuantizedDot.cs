using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Loom.Backends.Cpu.Quantized;

/// <summary>
/// Dot products of an fp32 activation row with one quantized weight row, working on the ggml blocks directly:
/// the int8 / 4-bit values are widened and converted in registers, multiplied with the activations, and each
/// block's partial sum is scaled once by its f16 scale (AVX2 + FMA; a scalar path elsewhere).
/// </summary>
internal static unsafe class QuantizedDot
{
    public const int Q8_0BlockBytes = 34, Q4_0BlockBytes = 18;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Scale(byte* block) => (float)Unsafe.ReadUnaligned<Half>(block);

    /// <summary>x[0..n) · row, row holding n / 32 Q8_0 blocks (f16 d, 32 x int8).</summary>
    public static float DotQ8_0(float* x, byte* row, int n)
    {
        int blocks = n / 32;
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            var acc = Vector256<float>.Zero;
            for (int b = 0; b < blocks; b++)
            {
                byte* block = row + b * Q8_0BlockBytes;
                sbyte* q = (sbyte*)(block + 2);
                float* xb = x + b * 32;
                var s = Avx.Multiply(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q)), Avx.LoadVector256(xb));
                s = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + 8)), Avx.LoadVector256(xb + 8), s);
                s = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + 16)), Avx.LoadVector256(xb + 16), s);
                s = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + 24)), Avx.LoadVector256(xb + 24), s);
                acc = Fma.MultiplyAdd(s, Vector256.Create(Scale(block)), acc);
            }
            return Vector256.Sum(acc);
        }
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = row + b * Q8_0BlockBytes;
            sbyte* q = (sbyte*)(block + 2);
            float s = 0;
            for (int j = 0; j < 32; j++) s += q[j] * x[b * 32 + j];
            sum += s * Scale(block);
        }
        return sum;
    }

    /// <summary>x[0..n) · row, row holding n / 32 Q4_0 blocks (f16 d, 16 bytes: low nibble = value j, high = value j + 16, offset 8).</summary>
    public static float DotQ4_0(float* x, byte* row, int n)
    {
        int blocks = n / 32;
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            var acc = Vector256<float>.Zero;
            var low = Vector256.Create(0xF);
            var eight = Vector256.Create(8);
            for (int b = 0; b < blocks; b++)
            {
                byte* block = row + b * Q4_0BlockBytes;
                byte* qs = block + 2;
                float* xb = x + b * 32;
                var q0 = Avx2.ConvertToVector256Int32(qs);      // bytes 0..7
                var q1 = Avx2.ConvertToVector256Int32(qs + 8);  // bytes 8..15
                var s = Avx.Multiply(Avx.ConvertToVector256Single(Avx2.Subtract(Avx2.And(q0, low), eight)), Avx.LoadVector256(xb));
                s = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(Avx2.And(q1, low), eight)), Avx.LoadVector256(xb + 8), s);
                s = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(Avx2.ShiftRightLogical(q0, 4), eight)), Avx.LoadVector256(xb + 16), s);
                s = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(Avx2.ShiftRightLogical(q1, 4), eight)), Avx.LoadVector256(xb + 24), s);
                acc = Fma.MultiplyAdd(s, Vector256.Create(Scale(block)), acc);
            }
            return Vector256.Sum(acc);
        }
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = row + b * Q4_0BlockBytes;
            byte* qs = block + 2;
            float* xb = x + b * 32;
            float s = 0;
            for (int j = 0; j < 16; j++) s += ((qs[j] & 0xF) - 8) * xb[j] + ((qs[j] >> 4) - 8) * xb[j + 16];
            sum += s * Scale(block);
        }
        return sum;
    }
}
