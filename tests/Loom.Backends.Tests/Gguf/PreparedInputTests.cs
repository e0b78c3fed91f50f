using Loom.Backends.Cpu;
using Loom.Models.Weights;

namespace Loom.Backends.Tests.Gguf;

/// <summary>
/// <see cref="LinearJob"/> quantizes a shared input once per launch (<see cref="Loom.Backends.Cpu.Quantized.PreparedInput"/>)
/// for all its layers: the outputs are bit-identical to each layer run alone (which quantizes into its own thread's
/// scratch), for layers that need Q8, Q8_K or both, on one thread and on three.
/// </summary>
public unsafe class PreparedInputTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 1)]
    [InlineData(3, 19)]
    [InlineData(2, 64)]
    public void SharedInputGivesTheBitsOfEachLayerAlone(int threads, int numTokens)
    {
        const int inFeatures = 512;
        var rng = new Random(numTokens * 31 + threads);
        DType[] dtypes = [DType.Q8_0, DType.Q4_K, DType.Q5_0];
        int[] rows = [37, 16, 72];
        var bytes = dtypes.Select((d, i) => QuantizedLinearTests.RandomBlocks(d, BlockKernelTests.RowBytes(d, inFeatures) * rows[i], rng)).ToArray();
        var x = BlockKernelTests.RandomInputs(numTokens * inFeatures, rng);
        var shared = rows.Select(r => new float[numTokens * r]).ToArray();
        var alone = rows.Select(r => new float[numTokens * r]).ToArray();
        using var pool = new WorkerPool(threads);
        var job = new LinearJob(pool);
        fixed (byte* w0 = bytes[0], w1 = bytes[1], w2 = bytes[2])
        fixed (float* xp = x, s0 = shared[0], s1 = shared[1], s2 = shared[2], a0 = alone[0], a1 = alone[1], a2 = alone[2])
        {
            var linears = new[] { Create(dtypes[0], w0, bytes[0].Length, rows[0], inFeatures), Create(dtypes[1], w1, bytes[1].Length, rows[1], inFeatures),
                Create(dtypes[2], w2, bytes[2].Length, rows[2], inFeatures) };
            job.Run(linears[0], s0, linears[1], s1, linears[2], s2, xp, numTokens);
            linears[0].ComputeRows(xp, inFeatures, numTokens, a0, rows[0], 0, rows[0]);
            linears[1].ComputeRows(xp, inFeatures, numTokens, a1, rows[1], 0, rows[1]);
            linears[2].ComputeRows(xp, inFeatures, numTokens, a2, rows[2], 0, rows[2]);
        }
        for (int i = 0; i < dtypes.Length; i++) Assert.True(alone[i].AsSpan().SequenceEqual(shared[i]), $"{dtypes[i]}");
    }

    private static CpuLinear Create(DType dtype, byte* data, int length, int rows, int inFeatures) =>
        CpuLinear.Create(new TensorInfo("w", dtype, [rows, inFeatures], data, length, "test"));
}
