namespace Loom.Backends.Tests.Cpu;

/// <summary>
/// The bf16 KV cache against the Hugging Face golden outputs: keys and values rounded to bf16 (8 significant bits)
/// move the logits by well under 1 % of their scale, and greedy decoding through the cache keeps the golden tokens
/// wherever the float64 margin is comfortable.
/// </summary>
public class Bf16KvCacheTests
{
    private const double LogitsTolerance = 2e-2; // bf16 rounding of K and V, not of the weights
    private const double MarginFloor = 0.05;     // a bf16 cache may flip a step whose top-2 gap is tiny

    public static TheoryData<string> Models() => [.. GoldenModel.Names];

    [Theory]
    [MemberData(nameof(Models))]
    public void PrefillThenDecodeThroughBf16Cache_StaysCloseToGolden(string model)
    {
        using var m = GoldenModel.Load(model);
        using var executor = m.CreateExecutor(m.BlocksForAllCases(16), 16, KvCacheDType.BFloat16);
        var blocks = new BlockAllocator(executor.KvCache.NumBlocks, seed: 3);
        int compared = 0;
        foreach (var c in m.Cases)
        {
            var seq = new TestSequence(c.PromptIds);
            var logits = TestBatches.Step(executor, [new StepPart(seq, c.PromptIds.Length, AllLogits: true)], blocks);
            for (int p = c.FirstLogitsRow; p < c.PromptIds.Length; p++)
            {
                double error = GoldenModel.RelativeError(logits.AsSpan(p * m.Vocab, m.Vocab), c.LogitsRow(p, m.Vocab));
                Assert.True(error <= LogitsTolerance, $"{model} case {c.Index} position {p}: relative error {error:E2}");
                compared++;
            }

            float[] last = logits[((c.PromptIds.Length - 1) * m.Vocab)..];
            for (int step = 0; step < c.Greedy.Length && c.Margins[step] >= MarginFloor; step++)
            {
                int token = GoldenModel.ArgMax(last);
                Assert.True(token == c.Greedy[step], $"{model} case {c.Index} step {step}: got {token}, golden {c.Greedy[step]}");
                seq.Tokens.Add(token);
                last = TestBatches.Step(executor, [new StepPart(seq, 1)], blocks);
            }
        }
        Assert.True(compared > 0);
    }
}
