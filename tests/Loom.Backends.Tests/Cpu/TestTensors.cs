using System.Runtime.InteropServices;
using Loom.Models.Weights;

namespace Loom.Backends.Tests.Cpu;

/// <summary>Native-memory tensors for kernel tests, with values rounded to what the dtype can hold.</summary>
internal sealed unsafe class TestTensors : IDisposable
{
    private readonly List<nint> _allocations = [];

    /// <summary>Stores <paramref name="values"/> as <paramref name="dtype"/> and returns the values it actually holds.</summary>
    public TensorInfo Create(string name, DType dtype, long[] shape, float[] values, out float[] stored)
    {
        int size = dtype == DType.F32 ? 4 : 2;
        byte* data = (byte*)NativeMemory.AlignedAlloc((nuint)(values.Length * size), 64);
        _allocations.Add((nint)data);
        stored = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            switch (dtype)
            {
                case DType.F32:
                    ((float*)data)[i] = stored[i] = values[i];
                    break;
                case DType.F16:
                    var h = (Half)values[i];
                    ((Half*)data)[i] = h;
                    stored[i] = (float)h;
                    break;
                case DType.BF16:
                    ushort bits = (ushort)(BitConverter.SingleToInt32Bits(values[i]) >>> 16); // truncation is fine for tests
                    ((ushort*)data)[i] = bits;
                    stored[i] = BitConverter.Int32BitsToSingle(bits << 16);
                    break;
                default:
                    throw new ArgumentException(dtype.ToString());
            }
        }
        return new TensorInfo(name, dtype, shape, data, (long)values.Length * size, "test");
    }

    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return v;
    }

    public void Dispose()
    {
        foreach (var p in _allocations) NativeMemory.AlignedFree((void*)p);
        _allocations.Clear();
    }
}
