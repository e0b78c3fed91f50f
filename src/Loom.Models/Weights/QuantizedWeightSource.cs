using Loom.Models.Gguf;

namespace Loom.Models.Weights;

/// <summary>
/// Another weight source with its matrices quantized to Q8_0 or Q4_0 while loading (`--quantization`), by the same
/// rule and the same rounding as <see cref="GgufExporter"/>: every 2-D tensor whose rows are whole 32-value blocks
/// (projections, embeddings, lm_head) is quantized row by row; 1-D tensors (norms, biases) and matrices with ragged
/// rows keep their stored type, and tensors that are already quantized are left as they are. The quantized bytes live
/// in owned native buffers freed on Dispose; the other tensors still point into the wrapped source, which this owns.
/// </summary>
public sealed unsafe class QuantizedWeightSource : IWeightSource
{
    /// <summary>Rows quantized per parallel work item: big enough to amortise scheduling, small enough to balance.</summary>
    private const int RowsPerWorkItem = 64;

    private readonly IWeightSource _inner;
    private readonly List<NativeBuffer> _buffers = [];
    private readonly Dictionary<string, TensorInfo> _tensors = new(StringComparer.Ordinal);

    public DType Type { get; }
    public IReadOnlyDictionary<string, TensorInfo> Tensors => _tensors;

    private QuantizedWeightSource(IWeightSource inner, DType type)
    {
        _inner = inner;
        Type = type;
    }

    /// <summary>
    /// Quantizes <paramref name="inner"/>'s matrices to <paramref name="type"/> (Q8_0 or Q4_0) and takes ownership of
    /// it (disposed with this, or at once if quantizing fails). Progress goes from 0 to 1 by bytes quantized.
    /// </summary>
    public static QuantizedWeightSource Quantize(IWeightSource inner, DType type, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (type is not (DType.Q8_0 or DType.Q4_0))
        {
            inner.Dispose();
            throw new ArgumentException($"Quantization to {type} is not supported: expected Q8_0 or Q4_0.", nameof(type));
        }
        var source = new QuantizedWeightSource(inner, type);
        try
        {
            source.QuantizeAll(progress);
            return source;
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>Whether the rule quantizes <paramref name="tensor"/> to <paramref name="type"/> (the exporter's rule).</summary>
    public static bool Quantizes(TensorInfo tensor, DType type) =>
        tensor.Shape.Length == 2
        && DTypes.IsFloatingPoint(tensor.DType) && tensor.DType != DType.F64
        && tensor.Shape[1] % DTypes.BlockElements(type) == 0;

    public TensorInfo Get(string name) => _tensors.TryGetValue(name, out var t) ? t : _inner.Get(name);

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
        _buffers.Clear();
        _tensors.Clear();
        _inner.Dispose();
    }

    private void QuantizeAll(IProgress<double>? progress)
    {
        long totalBytes = Math.Max(1, _inner.Tensors.Values.Where(t => Quantizes(t, Type)).Sum(t => t.ByteLength));
        long doneBytes = 0;
        foreach (var tensor in _inner.Tensors.Values)
        {
            if (!Quantizes(tensor, Type))
            {
                _tensors[tensor.Name] = tensor;
                continue;
            }
            _tensors[tensor.Name] = QuantizeTensor(tensor);
            progress?.Report((doneBytes += tensor.ByteLength) / (double)totalBytes);
        }
    }

    private TensorInfo QuantizeTensor(TensorInfo tensor)
    {
        long rows = tensor.Shape[0];
        int rowLength = checked((int)tensor.Shape[1]);
        long sourceRowBytes = DTypes.ByteCount(tensor.DType, rowLength)!.Value;
        long rowBytes = DTypes.ByteCount(Type, rowLength)!.Value;
        if (tensor.ByteLength != rows * sourceRowBytes)
            throw new ModelLoadException($"Tensor {tensor.Name} in {tensor.File} holds {tensor.ByteLength} bytes; {tensor.DType} [{rows}, {rowLength}] needs {rows * sourceRowBytes}.");
        var buffer = new NativeBuffer(rows * rowBytes);
        _buffers.Add(buffer);
        nint source = (nint)tensor.Data, destination = (nint)buffer.Pointer;
        var dtype = tensor.DType;
        var type = Type;
        long items = (rows + RowsPerWorkItem - 1) / RowsPerWorkItem;
        Parallel.For(0L, items, () => new float[rowLength], (item, _, values) =>
        {
            long end = Math.Min(rows, (item + 1) * RowsPerWorkItem);
            for (long r = item * RowsPerWorkItem; r < end; r++)
            {
                GgmlQuants.Dequantize(dtype, new ReadOnlySpan<byte>((byte*)source + r * sourceRowBytes, (int)sourceRowBytes), values);
                var row = new Span<byte>((byte*)destination + r * rowBytes, (int)rowBytes);
                if (type == DType.Q8_0) GgmlQuants.QuantizeQ8_0(values, row);
                else GgmlQuants.QuantizeQ4_0(values, row);
            }
            return values;
        }, _ => { });
        return new TensorInfo(tensor.Name, Type, tensor.Shape, buffer.Pointer, buffer.Length, $"{tensor.File} (quantized to {Type} on load)");
    }
}
