namespace Loom.Backends.Tests.Cpu;

/// <summary>
/// The logits do not depend on how many threads compute them: the row split of the linear layers, the head split of
/// attention and the token split of the token-wise steps (<see cref="Loom.Backends.Cpu.TokenStepJob"/>) all give each
/// output the same bits.
/// </summary>
public class ThreadCountInvarianceTests
{
    public static TheoryData<string> Models() => new(GoldenModel.Names);

    [Theory]
    [MemberData(nameof(Models))]
    public void BigPrefillBatch_GivesTheSameBitsAtOneAndThreeThreads(string model)
    {
        using var m = GoldenModel.Load(model);
        var one = Prefill(m, numThreads: 1);
        var three = Prefill(m, numThreads: 3);
        Assert.Equal(one.Length, three.Length);
        Assert.True(one.AsSpan().SequenceEqual(three), $"{model}: logits differ between one and three threads");
    }

    /// <summary>Every case's prompt twice (hundreds of tokens, so the token-wise steps run in parallel), in one step.</summary>
    private static float[] Prefill(GoldenModel m, int numThreads)
    {
        const int blockSize = 4;
        using var executor = m.CreateExecutor(2 * m.BlocksForAllCases(blockSize), blockSize, numThreads: numThreads);
        var blocks = new BlockAllocator(executor.KvCache.NumBlocks, seed: 5);
        var parts = m.Cases.Concat(m.Cases)
            .Select(c => new StepPart(new TestSequence(c.PromptIds), c.PromptIds.Length, AllLogits: true))
            .ToArray();
        return TestBatches.Step(executor, parts, blocks);
    }
}
