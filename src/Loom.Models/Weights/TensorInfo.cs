namespace Loom.Models.Weights;

/// <summary>
/// One stored tensor: a view of its bytes inside a memory-mapped (or owned) buffer that the
/// <see cref="IWeightSource"/> keeps alive. Shape is in PyTorch order (outermost first), so a
/// Linear weight is [out_features, in_features], row-major.
/// </summary>
public sealed unsafe class TensorInfo(string name, DType dtype, long[] shape, byte* data, long byteLength, string file)
{
    public string Name { get; } = name;
    public DType DType { get; } = dtype;
    public long[] Shape { get; } = shape;
    public byte* Data { get; } = data;
    public long ByteLength { get; } = byteLength;
    /// <summary>The file it came from, for error messages.</summary>
    public string File { get; } = file;

    public long ElementCount
    {
        get { long n = 1; foreach (var d in Shape) n *= d; return n; }
    }

    /// <summary>The raw bytes (tensors above 2 GiB must be read through <see cref="Data"/>).</summary>
    public ReadOnlySpan<byte> Bytes => new(Data, checked((int)ByteLength));

    public override string ToString() => $"{Name} {DType}[{string.Join(",", Shape)}] ({File})";
}
