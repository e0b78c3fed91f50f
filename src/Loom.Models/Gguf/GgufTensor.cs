namespace Loom.Models.Gguf;

/// <summary>
/// One tensor of a GGUF file as stored: ggml dimension order (Dims[0] is the innermost, contiguous one, so a Linear
/// weight is [in_features, out_features]), and its bytes inside the memory-mapped file.
/// </summary>
public sealed unsafe class GgufTensor(string name, GgmlType type, long[] dims, long offset, long byteLength, byte* data)
{
    public string Name { get; } = name;
    public GgmlType Type { get; } = type;
    public long[] Dims { get; } = dims;
    /// <summary>Offset from the start of the data section.</summary>
    public long Offset { get; } = offset;
    public long ByteLength { get; } = byteLength;
    public byte* Data { get; } = data;

    public long ElementCount => Dims.Aggregate(1L, (a, d) => a * d);

    /// <summary>Dims reversed into PyTorch order (outermost first), as <see cref="Weights.TensorInfo.Shape"/> uses.</summary>
    public long[] TorchShape => Dims.Reverse().ToArray();

    public override string ToString() => $"{Name} {Type}[{string.Join(",", Dims)}]";
}
