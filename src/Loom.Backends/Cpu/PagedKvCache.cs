using Loom.Models.Weights;

namespace Loom.Backends.Cpu;

/// <summary>
/// The paged KV cache in native memory (fp32 or bf16 elements), block-major so one block (all layers) is one contiguous
/// range: [numBlocks][numLayers][K|V][blockSize][numKvHeads * headDim]. A token's K (or V) row for one layer is
/// contiguous, so writing a new token is one row conversion, and a block copy (copy-on-write) is one memcpy.
/// The slot of position p of a sequence is blockTable[p / blockSize] at offset p % blockSize.
/// </summary>
internal sealed unsafe class PagedKvCache : IDisposable
{
    private readonly NativeBuffer _memory;
    private readonly byte* _data;

    public PagedKvCache(int numBlocks, int blockSize, int numLayers, int kvSize, KvCacheDType dtype = KvCacheDType.Float32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numBlocks, 1, nameof(numBlocks));
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1, nameof(blockSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(numLayers, 1, nameof(numLayers));
        ArgumentOutOfRangeException.ThrowIfLessThan(kvSize, 1, nameof(kvSize));
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        NumLayers = numLayers;
        KvSize = kvSize;
        DType = dtype;
        ElementSize = dtype.ElementSize();
        BlockBytes = BytesPerBlock(numLayers, blockSize, kvSize, dtype);
        // Not zeroed: attention only reads slots written earlier, and untouched pages are never faulted in.
        _memory = new NativeBuffer(BlockBytes * numBlocks);
        _data = _memory.Pointer;
    }

    public int NumBlocks { get; }
    public int BlockSize { get; }
    public int NumLayers { get; }
    /// <summary>numKvHeads * headDim: elements of one token's K (or V) in one layer.</summary>
    public int KvSize { get; }
    public KvCacheDType DType { get; }
    public int ElementSize { get; }
    /// <summary>Bytes of one block, all layers, K and V: one contiguous range of the cache.</summary>
    public long BlockBytes { get; }

    public static long BytesPerBlock(int numLayers, int blockSize, int kvSize, KvCacheDType dtype = KvCacheDType.Float32) =>
        (long)numLayers * 2 * blockSize * kvSize * dtype.ElementSize();

    /// <summary>[blockSize, KvSize] keys of one layer in one block, as stored (<see cref="DType"/> elements).</summary>
    public byte* Keys(int block, int layer) => Block(block) + (long)layer * 2 * BlockSize * KvSize * ElementSize;

    /// <summary>[blockSize, KvSize] values of one layer in one block.</summary>
    public byte* Values(int block, int layer) => Keys(block, layer) + (long)BlockSize * KvSize * ElementSize;

    /// <summary>Stores one token's K and V rows (KvSize floats each) in its slot, converting to the cache's type.</summary>
    public void Write(int block, int layer, int slot, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        long offset = (long)slot * KvSize * ElementSize;
        Store(key, Keys(block, layer) + offset);
        Store(value, Values(block, layer) + offset);
    }

    /// <summary>Reads one token's K and V rows back as floats (tests, debugging).</summary>
    public void Read(int block, int layer, int slot, Span<float> key, Span<float> value)
    {
        long offset = (long)slot * KvSize * ElementSize;
        Load(Keys(block, layer) + offset, key);
        Load(Values(block, layer) + offset, value);
    }

    private void Store(ReadOnlySpan<float> row, byte* destination)
    {
        if (row.Length != KvSize) throw new ArgumentException($"A KV row has {KvSize} elements, got {row.Length}.", nameof(row));
        if (DType == KvCacheDType.BFloat16) HalfConvert.F32ToBF16(row, new Span<ushort>(destination, KvSize));
        else row.CopyTo(new Span<float>(destination, KvSize));
    }

    private void Load(byte* source, Span<float> row)
    {
        if (row.Length != KvSize) throw new ArgumentException($"A KV row has {KvSize} elements, got {row.Length}.", nameof(row));
        if (DType == KvCacheDType.BFloat16) HalfConvert.BF16ToF32(new ReadOnlySpan<ushort>(source, KvSize), row);
        else new ReadOnlySpan<float>(source, KvSize).CopyTo(row);
    }

    /// <summary>The first byte of a block: [numLayers][K|V][blockSize][KvSize] elements follow, <see cref="BlockBytes"/> in all.</summary>
    public byte* Block(int block) => _data + block * BlockBytes;

    public void CopyBlock(int src, int dst) => Buffer.MemoryCopy(Block(src), Block(dst), BlockBytes, BlockBytes);

    public void Dispose() => _memory.Dispose();
}
