namespace Loom.Backends.Cpu;

/// <summary>
/// Whole-block KV moves. The cache is block-major, so a block is one contiguous range: copy-on-write, export and
/// import are each one memcpy per block, in the cache's own element type.
/// </summary>
public sealed unsafe partial class CpuModelExecutor
{
    public void CopyBlocks(ReadOnlySpan<int> src, ReadOnlySpan<int> dst)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (src.Length != dst.Length)
            throw new ArgumentException($"CopyBlocks got {src.Length} source blocks but {dst.Length} destinations.", nameof(dst));
        for (int i = 0; i < src.Length; i++)
        {
            CheckBlock(src[i], "src");
            CheckBlock(dst[i], "dst");
            _cache.CopyBlock(src[i], dst[i]);
        }
    }

    public void ExportBlocks(ReadOnlySpan<int> blockIds, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckTransfer(blockIds, destination.Length, nameof(destination));
        long bytes = _cache.BlockBytes;
        fixed (byte* output = destination)
            for (int i = 0; i < blockIds.Length; i++)
                Buffer.MemoryCopy(_cache.Block(blockIds[i]), output + i * bytes, bytes, bytes);
    }

    public void ImportBlocks(ReadOnlySpan<int> blockIds, ReadOnlySpan<byte> source)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckTransfer(blockIds, source.Length, nameof(source));
        long bytes = _cache.BlockBytes;
        fixed (byte* input = source)
            for (int i = 0; i < blockIds.Length; i++)
                Buffer.MemoryCopy(input + i * bytes, _cache.Block(blockIds[i]), bytes, bytes);
    }
}
