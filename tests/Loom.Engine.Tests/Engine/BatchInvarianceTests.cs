using Loom.Core.Requests;
using Loom.Core.Sampling;

namespace Loom.Engine.Tests.Engine;

/// <summary>
/// Issue 3's central proof: 16 requests of mixed prompt lengths submitted together produce, for each request, exactly
/// the greedy tokens (and logits within 1e-4) of that request run alone — across block sizes, token budgets small enough
/// to split prompts, prefix caching on and off, and a cache so small that preemption happens.
/// </summary>
public class BatchInvarianceTests
{
    private const string ModelName = "llama-gqa";
    private const int MaxTokens = 6;
    private const float LogitTolerance = 1e-4f;
    private static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = MaxTokens, IgnoreEos = true };

    private static readonly Lazy<(int[][] Prompts, TestEngine Alone)> Reference = new(RunAlone);

    /// <summary>16 prompts of 1..90 tokens; several extend a common 40-token prefix so prefix caching has hits.</summary>
    private static int[][] Prompts()
    {
        var model = FixtureModel.Get(ModelName);
        var shared = model.Prompt(40, seed: 1000);
        int[] lengths = [1, 3, 17, 90, 5, 33, 64, 2, 47, 16, 29, 71, 8, 55, 12, 40];
        return [.. lengths.Select((length, i) => i % 3 == 0 && length > 40
            ? [.. shared, .. model.Prompt(length - 40, seed: i)]
            : i % 5 == 1 ? shared[..Math.Min(length, 40)] : model.Prompt(length, seed: i))];
    }

    private static (int[][], TestEngine) RunAlone()
    {
        var prompts = Prompts();
        var alone = FixtureModel.Get(ModelName).CreateEngine(
            new EngineOptions { BlockSize = 16, MaxNumBatchedTokens = 1024, EnablePrefixCaching = false }, numBlocks: 64);
        for (int i = 0; i < prompts.Length; i++)
        {
            alone.Add($"r{i}", prompts[i], Greedy);
            alone.RunToCompletion();
        }
        return (prompts, alone);
    }

    public static TheoryData<int, int, bool, int> Configurations => new()
    {
        // blockSize, maxNumBatchedTokens, prefix caching, numBlocks
        { 16, 512, true, 128 },
        { 16, 512, false, 128 },
        { 1, 512, true, 2048 },
        { 1, 13, false, 2048 },
        { 16, 7, true, 128 },
        { 16, 24, false, 128 },
        { 1, 31, true, 2048 },
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void BatchedOutputsEqualRunAlone(int blockSize, int budget, bool prefixCaching, int numBlocks)
    {
        using var batched = FixtureModel.Get(ModelName).CreateEngine(new EngineOptions
        {
            BlockSize = blockSize, MaxNumBatchedTokens = budget, EnablePrefixCaching = prefixCaching, MaxNumSeqs = 16,
        }, numBlocks);
        RunAllTogetherAndCompare(batched);
    }

    [Theory]
    [InlineData(16, true)]
    [InlineData(1, false)]
    public void TinyCacheForcesPreemptionWithoutChangingOutputs(int blockSize, bool prefixCaching)
    {
        // Room for the longest request alone (96 tokens) and little more: the 16 cannot all decode together.
        int numBlocks = 112 / blockSize;
        using var batched = FixtureModel.Get(ModelName).CreateEngine(new EngineOptions
        {
            BlockSize = blockSize, MaxNumBatchedTokens = 64, EnablePrefixCaching = prefixCaching, MaxNumSeqs = 16,
        }, numBlocks);
        RunAllTogetherAndCompare(batched);
        Assert.True(batched.Engine.GetStats().NumPreemptions > 0, "the tiny cache should have forced preemption");
    }

    private static void RunAllTogetherAndCompare(TestEngine batched)
    {
        var (prompts, alone) = Reference.Value;
        for (int i = 0; i < prompts.Length; i++) batched.Add($"r{i}", prompts[i], Greedy);
        batched.RunToCompletion();

        for (int i = 0; i < prompts.Length; i++)
        {
            string id = $"r{i}";
            Assert.Equal(alone.Tokens[id], batched.Tokens[id]);
            Assert.Equal(FinishReason.Length, batched.Last[id].Deltas[^1].FinishReason);
            var expectedRows = alone.Logits[id];
            var actualRows = batched.Logits[id];
            Assert.Equal(expectedRows.Count, actualRows.Count);
            for (int step = 0; step < expectedRows.Count; step++)
            {
                float maxDiff = 0;
                for (int v = 0; v < expectedRows[step].Length; v++)
                    maxDiff = Math.Max(maxDiff, Math.Abs(expectedRows[step][v] - actualRows[step][v]));
                Assert.True(maxDiff <= LogitTolerance, $"{id} step {step}: logits differ by {maxDiff}");
            }
        }
        var stats = batched.Engine.GetStats();
        Assert.Equal(0, stats.NumBlocksUsed);
        Assert.Equal(16L * MaxTokens, stats.GenerationTokensTotal);
    }
}
