using Loom.Backends.Tests.Cpu;

namespace Loom.Backends.Tests.Contract;

/// <summary>
/// An executor's forward against the Hugging Face golden outputs of every fixture model: logits within 1e-4 relative
/// per row, and greedy tokens equal up to the first step whose recorded margin is below 1e-3. Abstract: each backend
/// inherits it (<c>CpuGoldenForwardTests</c>).
/// </summary>
public abstract class GoldenForwardTests
{
    /// <summary>The backend whose executors the suite checks.</summary>
    protected abstract IBackend Backend { get; }

    private IModelExecutor CreateExecutor(GoldenModel m, int blockSize) =>
        Backend.LoadModel(m.Config, m.Weights, new KvCacheSpec(m.BlocksForAllCases(blockSize), blockSize));

    private const double LogitsTolerance = 1e-4;
    private const double MarginFloor = 1e-3;

    public static TheoryData<string, int> ModelsAndBlockSizes()
    {
        var data = new TheoryData<string, int>();
        foreach (var m in GoldenModel.Names) { data.Add(m, 16); data.Add(m, 1); }
        return data;
    }

    public static TheoryData<string, int, int> ModelsAndChunks()
    {
        var data = new TheoryData<string, int, int>();
        foreach (var m in GoldenModel.Names)
        {
            data.Add(m, 1, 16);
            data.Add(m, 7, 1);
            data.Add(m, 64, 16);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ModelsAndBlockSizes))]
    public void WholePromptInOneBatch_LogitsMatchGolden(string model, int blockSize)
    {
        using var m = GoldenModel.Load(model);
        using var executor = CreateExecutor(m, blockSize);
        var blocks = new BlockAllocator(executor.KvCache.NumBlocks, seed: 1);
        foreach (var c in m.Cases)
        {
            var seq = new TestSequence(c.PromptIds);
            var logits = TestBatches.Step(executor, [new StepPart(seq, c.PromptIds.Length, AllLogits: true)], blocks);

            for (int p = c.FirstLogitsRow; p < c.PromptIds.Length; p++)
            {
                double error = GoldenModel.RelativeError(logits.AsSpan(p * m.Vocab, m.Vocab), c.LogitsRow(p, m.Vocab));
                Assert.True(error <= LogitsTolerance, $"{model} case {c.Index} position {p}: relative error {error:E2}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(ModelsAndChunks))]
    public void ChunkedPrefillThenDecode_MatchesGoldenLastRowAndGreedyTokens(string model, int chunk, int blockSize)
    {
        using var m = GoldenModel.Load(model);
        using var executor = CreateExecutor(m, blockSize);
        var blocks = new BlockAllocator(executor.KvCache.NumBlocks, seed: chunk);
        foreach (var c in m.Cases)
        {
            var seq = new TestSequence(c.PromptIds);
            float[] logits = [];
            while (seq.NumComputed < c.PromptIds.Length)
            {
                int n = Math.Min(chunk, c.PromptIds.Length - seq.NumComputed);
                logits = TestBatches.Step(executor, [new StepPart(seq, n)], blocks);
            }
            double error = GoldenModel.RelativeError(logits, c.LastRow(m.Vocab));
            Assert.True(error <= LogitsTolerance, $"{model} case {c.Index} last prompt row: relative error {error:E2}");

            for (int step = 0; step < c.Greedy.Length && c.Margins[step] >= MarginFloor; step++)
            {
                int token = GoldenModel.ArgMax(logits);
                Assert.True(token == c.Greedy[step], $"{model} case {c.Index} step {step}: got {token}, golden {c.Greedy[step]}");
                seq.Tokens.Add(token);
                logits = TestBatches.Step(executor, [new StepPart(seq, 1)], blocks);
            }
        }
    }
}
