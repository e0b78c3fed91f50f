using System.Diagnostics;

namespace Loom.Core.KvCache;

/// <summary>
/// Intrusive doubly linked list of free blocks (vLLM's FreeKVCacheBlockQueue). The head is the next block to hand out,
/// hence the least recently freed, so cached blocks are evicted in LRU order; a cache hit removes a block from the
/// middle in O(1) without allocating.
/// </summary>
internal sealed class FreeBlockQueue
{
    private readonly KvBlock _head = new(-1); // sentinel: _head.NextFree is the first free block
    private readonly KvBlock _tail = new(-1); // sentinel: _tail.PrevFree is the last free block

    public FreeBlockQueue(IEnumerable<KvBlock> blocks)
    {
        _head.NextFree = _tail;
        _tail.PrevFree = _head;
        foreach (var block in blocks) Append(block);
    }

    public int Count { get; private set; }

    public KvBlock PopFront()
    {
        if (Count == 0) throw new InvalidOperationException("No free KV blocks left.");
        var block = _head.NextFree!;
        Remove(block);
        return block;
    }

    public void Remove(KvBlock block)
    {
        Debug.Assert(block.PrevFree is not null && block.NextFree is not null, "block is not in the free queue");
        block.PrevFree!.NextFree = block.NextFree;
        block.NextFree!.PrevFree = block.PrevFree;
        block.PrevFree = block.NextFree = null;
        Count--;
    }

    public void Append(KvBlock block)
    {
        Debug.Assert(block.PrevFree is null && block.NextFree is null, "block is already in the free queue");
        var last = _tail.PrevFree!;
        last.NextFree = block;
        block.PrevFree = last;
        block.NextFree = _tail;
        _tail.PrevFree = block;
        Count++;
    }

    public bool Contains(KvBlock block) => block.PrevFree is not null;

    /// <summary>Walks the list front to back (for self-checks and tests, not hot paths).</summary>
    public IEnumerable<KvBlock> Enumerate()
    {
        for (var block = _head.NextFree!; block != _tail; block = block.NextFree!)
            yield return block;
    }
}
