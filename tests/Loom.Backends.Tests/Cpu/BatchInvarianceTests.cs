namespace Loom.Backends.Tests.Cpu;

/// <summary>
/// A sequence's logits do not depend on what else is in the batch: several sequences of different lengths, prefill
/// chunks mixed with decodes, give bit-identical logits to each sequence run alone.
/// </summary>
public class BatchInvarianceTests
{
    public static TheoryData<string> Models() => new(GoldenModel.Names);

    [Theory]
    [MemberData(nameof(Models))]
    public void MixedBatch_GivesTheSameLogitsAsEachSequenceAlone(string model)
    {
        using var m = GoldenModel.Load(model);
        const int blockSize = 4;
        // Three steps, each a list of (case, tokens this step): whole prompts, then decodes mixed with a long prompt's chunks.
        int longCase = m.Cases.Length - 1;
        (int Case, int Count)[][] schedule =
        [
            [(0, m.Cases[0].PromptIds.Length), (1, m.Cases[1].PromptIds.Length), (longCase, 50)],
            [(0, 1), (2, m.Cases[2].PromptIds.Length), (longCase, 64), (1, 1)],
            [(1, 1), (0, 1), (2, 1), (longCase, m.Cases[longCase].PromptIds.Length - 114)],
        ];

        var together = Run(m, blockSize, schedule, seed: 3);
        var alone = new Dictionary<(int Step, int Case), float[]>();
        foreach (var c in schedule.SelectMany(s => s).Select(p => p.Case).Distinct())
        {
            var mine = schedule.Select(step => step.Where(p => p.Case == c).ToArray()).ToArray();
            foreach (var (key, value) in Run(m, blockSize, mine, seed: 10 + c)) alone[key] = value;
        }

        Assert.Equal(alone.Count, together.Count);
        foreach (var (key, logits) in together)
            Assert.True(alone[key].AsSpan().SequenceEqual(logits), $"{model}: case {key.Case} at step {key.Step} differs in a batch");
    }

    /// <summary>Runs the schedule (each case continues with the golden greedy tokens) and returns each part's logits rows.</summary>
    private static Dictionary<(int Step, int Case), float[]> Run(GoldenModel m, int blockSize, (int Case, int Count)[][] schedule, int seed)
    {
        using var executor = m.CreateExecutor(m.BlocksForAllCases(blockSize), blockSize);
        var blocks = new BlockAllocator(executor.KvCache.NumBlocks, seed);
        var seqs = m.Cases.Select(c => new TestSequence(c.PromptIds.Concat(c.Greedy))).ToArray();
        var result = new Dictionary<(int, int), float[]>();
        for (int step = 0; step < schedule.Length; step++)
        {
            if (schedule[step].Length == 0) continue;
            var parts = schedule[step].Select(p => new StepPart(seqs[p.Case], p.Count, AllLogits: true)).ToArray();
            var logits = TestBatches.Step(executor, parts, blocks);
            int row = 0;
            foreach (var (c, count) in schedule[step])
            {
                result[(step, c)] = logits.AsSpan(row * m.Vocab, count * m.Vocab).ToArray();
                row += count;
            }
        }
        return result;
    }
}
