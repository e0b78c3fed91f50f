namespace Loom.Backends.Tests.Cpu;

public class AllocationTests
{
    /// <summary>Decode steps allocate nothing on the managed heap once buffers have grown to the batch's size.</summary>
    [Fact]
    public void DecodeStep_AllocatesNothing_AfterWarmUp()
    {
        using var m = GoldenModel.Load("qwen2-bias-tied");
        using var executor = m.CreateExecutor(numBlocks: 8, blockSize: 16);
        var blockTable = Enumerable.Range(0, 8).ToArray();
        var batches = Enumerable.Range(0, 40).Select(p => ForwardBatch.Of(
            tokenIds: [p % m.Vocab],
            positions: [p],
            seqs: [new SequenceSlice(0, 1, p + 1, blockTable)],
            logitsIndices: [0])).ToArray();
        var logits = new float[m.Vocab];
        for (int p = 0; p < 20; p++) executor.Forward(batches[p]).CopyTo(logits);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int p = 20; p < 40; p++) executor.Forward(batches[p]).CopyTo(logits);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }
}
