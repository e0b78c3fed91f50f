using Loom.Models.Config;
using Loom.Models.Definition;

namespace Loom.Models.Weights;

/// <summary>
/// Random weights with the names and shapes a config requires, so benchmarks can run real model shapes from a
/// config.json alone. Values are deterministic in the seed (independent of thread scheduling): approximately
/// normal with standard deviation 0.02, norm weights exactly 1. Stored in native memory, freed on Dispose.
/// </summary>
public sealed unsafe class DummyWeightSource : IWeightSource
{
    private const float StdDev = 0.02f;
    private const int ChunkElements = 8192;

    private readonly List<NativeBuffer> _buffers = [];
    private readonly Dictionary<string, TensorInfo> _tensors = new(StringComparer.Ordinal);
    private readonly string _source;

    public IReadOnlyDictionary<string, TensorInfo> Tensors => _tensors;

    public DummyWeightSource(ModelConfig config, DType dtype, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (dtype is not (DType.F32 or DType.F16 or DType.BF16))
            throw new ArgumentException($"Dummy weights are F32, F16 or BF16, not {dtype}.", nameof(dtype));
        _source = $"dummy {config.Architecture} weights ({dtype}, seed {seed})";
        var expected = ModelDefinition.For(config).Tensors;
        try
        {
            foreach (var e in expected)
            {
                long elements = e.Shape.Aggregate(1L, (a, d) => checked(a * d));
                var buffer = new NativeBuffer(checked(elements * DTypes.BlockBytes(dtype)));
                _buffers.Add(buffer);
                _tensors[e.Name] = new TensorInfo(e.Name, dtype, e.Shape, buffer.Pointer, buffer.Length, _source);
            }
            Fill(expected, dtype, seed);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public TensorInfo Get(string name) => _tensors.TryGetValue(name, out var t)
        ? t
        : throw new ModelLoadException($"Tensor '{name}' not found in checkpoint {_source}.");

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
        _buffers.Clear();
        _tensors.Clear();
    }

    /// <summary>Fills every tensor in parallel chunks; each chunk has its own generator seeded from (seed, tensor, chunk).</summary>
    private void Fill(IReadOnlyList<ModelTensor> expected, DType dtype, int seed)
    {
        var chunks = new List<(TensorInfo Tensor, bool IsNorm, int TensorIndex, long Start)>();
        for (int t = 0; t < expected.Count; t++)
        {
            var tensor = _tensors[expected[t].Name];
            for (long start = 0; start < tensor.ElementCount; start += ChunkElements)
                chunks.Add((tensor, expected[t].IsNorm, t, start));
        }
        Parallel.ForEach(chunks, c =>
        {
            int count = (int)Math.Min(ChunkElements, c.Tensor.ElementCount - c.Start);
            Span<float> values = stackalloc float[count];
            if (c.IsNorm) values.Fill(1f);
            else FillNormal(values, Mix((ulong)seed, (ulong)c.TensorIndex, (ulong)c.Start));
            Store(values, c.Tensor, dtype, c.Start);
        });
    }

    private static void Store(ReadOnlySpan<float> values, TensorInfo tensor, DType dtype, long start)
    {
        switch (dtype)
        {
            case DType.F32: values.CopyTo(new Span<float>((float*)tensor.Data + start, values.Length)); break;
            case DType.BF16: HalfConvert.F32ToBF16(values, new Span<ushort>((ushort*)tensor.Data + start, values.Length)); break;
            default: HalfConvert.F32ToF16(values, new Span<ushort>((ushort*)tensor.Data + start, values.Length)); break;
        }
    }

    /// <summary>
    /// Irwin-Hall approximation of a normal: the sum of four 16-bit uniforms from one SplitMix64 draw has mean 2 and
    /// variance 1/3, so (sum - 2) * sqrt(3) is close to a standard normal. One 64-bit draw per value keeps it cheap.
    /// </summary>
    private static void FillNormal(Span<float> values, ulong state)
    {
        float scale = StdDev * MathF.Sqrt(3f) / 65536f;
        for (int i = 0; i < values.Length; i++)
        {
            ulong r = SplitMix64(ref state);
            uint sum = (uint)(r & 0xFFFF) + (uint)((r >> 16) & 0xFFFF) + (uint)((r >> 32) & 0xFFFF) + (uint)(r >> 48);
            values[i] = ((int)sum - 2 * 65536) * scale;
        }
    }

    private static ulong Mix(ulong a, ulong b, ulong c)
    {
        ulong s = a * 0x9E3779B97F4A7C15UL;
        s = SplitMix64(ref s) ^ b;
        s = SplitMix64(ref s) ^ c;
        return SplitMix64(ref s);
    }

    private static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
