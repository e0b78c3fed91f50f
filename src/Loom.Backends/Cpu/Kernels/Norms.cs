using System.Numerics.Tensors;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>RMSNorm and the SiLU-gated MLP activation, on fp32 rows.</summary>
internal static class Norms
{
    /// <summary>y = x / sqrt(mean(x^2) + eps) * weight (the Llama/HF order: normalise, then scale).</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        float sumOfSquares = TensorPrimitives.SumOfSquares(x);
        float inverseRms = 1f / MathF.Sqrt(sumOfSquares / x.Length + eps);
        TensorPrimitives.Multiply(x, inverseRms, y);
        TensorPrimitives.Multiply(y, weight, y);
    }

    /// <summary>RMSNorm of each of <paramref name="rows"/> consecutive rows of width weight.Length, in place.</summary>
    public static void RmsNormRowsInPlace(Span<float> rows, ReadOnlySpan<float> weight, float eps)
    {
        for (int start = 0; start < rows.Length; start += weight.Length)
        {
            var row = rows.Slice(start, weight.Length);
            RmsNorm(row, weight, eps, row);
        }
    }

    /// <summary>gate = silu(gate) * up, computed as sigmoid(gate) * (gate * up) so no temporary is needed.</summary>
    public static void SiluMulInPlace(Span<float> gate, Span<float> up)
    {
        TensorPrimitives.Multiply(gate, up, up);
        TensorPrimitives.Sigmoid(gate, gate);
        TensorPrimitives.Multiply(gate, up, gate);
    }
}
