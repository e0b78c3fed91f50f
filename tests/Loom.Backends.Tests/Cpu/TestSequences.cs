namespace Loom.Backends.Tests.Cpu;

/// <summary>
/// What the engine does around the executor, in miniature: a sequence's tokens, how many are in the cache, and its
/// block table, with blocks handed out from a shuffled free list so tables are not contiguous.
/// </summary>
internal sealed class TestSequence(IEnumerable<int> tokens)
{
    public List<int> Tokens { get; } = tokens.ToList();
    public int NumComputed { get; set; }
    public List<int> Blocks { get; } = [];
}

internal sealed class BlockAllocator
{
    private readonly Stack<int> _free;

    public BlockAllocator(int numBlocks, int seed)
    {
        var ids = Enumerable.Range(0, numBlocks).ToArray();
        new Random(seed).Shuffle(ids);
        _free = new Stack<int>(ids);
    }

    public int Allocate() => _free.Pop();
}

/// <summary>One sequence's share of a step: its next <paramref name="Count"/> tokens, and whether all of their logits are wanted.</summary>
internal readonly record struct StepPart(TestSequence Seq, int Count, bool AllLogits = false);

internal static class TestBatches
{
    public static ForwardBatch Build(IReadOnlyList<StepPart> parts, int blockSize, BlockAllocator blocks)
    {
        var tokens = new List<int>();
        var positions = new List<int>();
        var logitsIndices = new List<int>();
        var seqs = new SequenceSlice[parts.Count];
        for (int i = 0; i < parts.Count; i++)
        {
            var (seq, count, allLogits) = parts[i];
            int start = tokens.Count;
            int context = seq.NumComputed + count;
            while (seq.Blocks.Count * blockSize < context) seq.Blocks.Add(blocks.Allocate());
            for (int p = seq.NumComputed; p < context; p++)
            {
                tokens.Add(seq.Tokens[p]);
                positions.Add(p);
            }
            if (allLogits) logitsIndices.AddRange(Enumerable.Range(start, count));
            else logitsIndices.Add(start + count - 1);
            seqs[i] = new SequenceSlice(start, count, context, seq.Blocks.ToArray());
        }
        return ForwardBatch.Of(
            tokenIds: tokens.ToArray(),
            positions: positions.ToArray(),
            seqs: seqs,
            logitsIndices: logitsIndices.ToArray());
    }

    /// <summary>Runs one step and marks the tokens computed; returns [LogitsIndices.Length, vocab].</summary>
    public static float[] Step(IModelExecutor executor, IReadOnlyList<StepPart> parts, BlockAllocator blocks)
    {
        var batch = Build(parts, executor.KvCache.BlockSize, blocks);
        var logits = new float[batch.LogitsIndices.Length * executor.Config.VocabSize];
        executor.Forward(batch).CopyTo(logits);
        foreach (var part in parts) part.Seq.NumComputed += part.Count;
        return logits;
    }
}
