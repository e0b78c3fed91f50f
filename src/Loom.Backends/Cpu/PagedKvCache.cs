using System.Runtime.InteropServices;

namespace Loom.Backends.Cpu;

/// <summary>
/// The paged KV cache in native fp32 memory, block-major so one block (all layers) is one contiguous range:
/// [numBlocks][numLayers][K|V][blockSize][numKvHeads * headDim]. A token's K (or V) row for one layer is contiguous,
/// so writing a new token is one copy, and a block copy (copy-on-write) is one memcpy.
/// The slot of position p of a sequence is blockTable[p / blockSize] at offset p % blockSize.
/// </summary>
internal sealed unsafe class PagedKvCache : IDisposable
{
    private float* _data;

    public PagedKvCache(int numBlocks, int blockSize, int numLayers, int kvSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numBlocks, 1, nameof(numBlocks));
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1, nameof(blockSize));
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        NumLayers = numLayers;
        KvSize = kvSize;
        FloatsPerBlock = (long)numLayers * 2 * blockSize * kvSize;
        // Not zeroed: attention only reads slots written earlier, and untouched pages are never faulted in.
        _data = (float*)NativeMemory.AlignedAlloc((nuint)(FloatsPerBlock * numBlocks * sizeof(float)), 64);
    }

    public int NumBlocks { get; }
    public int BlockSize { get; }
    public int NumLayers { get; }
    /// <summary>numKvHeads * headDim: floats of one token's K (or V) in one layer.</summary>
    public int KvSize { get; }
    public long FloatsPerBlock { get; }

    public static long BytesPerBlock(int numLayers, int blockSize, int kvSize) => (long)numLayers * 2 * blockSize * kvSize * sizeof(float);

    /// <summary>[blockSize, KvSize] keys of one layer in one block.</summary>
    public float* Keys(int block, int layer) => _data + block * FloatsPerBlock + (long)layer * 2 * BlockSize * KvSize;

    /// <summary>[blockSize, KvSize] values of one layer in one block.</summary>
    public float* Values(int block, int layer) => Keys(block, layer) + (long)BlockSize * KvSize;

    public void CopyBlock(int src, int dst)
    {
        long bytes = FloatsPerBlock * sizeof(float);
        Buffer.MemoryCopy(_data + src * FloatsPerBlock, _data + dst * FloatsPerBlock, bytes, bytes);
    }

    public void Dispose()
    {
        if (_data != null) NativeMemory.AlignedFree(_data);
        _data = null;
        GC.SuppressFinalize(this);
    }

    ~PagedKvCache()
    {
        if (_data != null) NativeMemory.AlignedFree(_data);
    }
}
