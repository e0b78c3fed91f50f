using Loom.Core.Sampling;

namespace Loom.Engine.Tests.Engine;

/// <summary>The step-time control's arithmetic (pure), and that the engine's output does not depend on it.</summary>
public class StepTimeBudgetTests
{
    private static readonly TimeSpan Target = TimeSpan.FromMilliseconds(250);

    /// <summary>Steps of a model whose step costs 20 ms + 5 ms per token.</summary>
    private static StepTimeBudget Fed(int cap = 512, params int[] tokens)
    {
        var budget = new StepTimeBudget(Target, cap);
        foreach (int n in tokens) budget.Observe(n, TimeSpan.FromMilliseconds(20 + 5.0 * n));
        return budget;
    }

    [Fact]
    public void NothingMeasuredYet_GivesTheCap() => Assert.Equal(512, new StepTimeBudget(Target, 512).NextBudget(3, 3));

    [Fact]
    public void ALinearCostIsLearntAndTheBudgetFitsTheTarget() =>
        Assert.Equal(46, Fed(512, 8, 16, 32, 64, 17, 40).NextBudget(4, 4)); // (250 - 20) / 5

    [Fact]
    public void DecodesThatAloneExceedTheTargetGetTheHeadroomFactor()
    {
        // 60 decodes alone: 20 + 300 = 320 ms > 250; a step may take 1.25 x 320 = 400 ms: (400 - 20) / 5 = 76 tokens.
        Assert.Equal(76, Fed(512, 8, 16, 32, 64, 100).NextBudget(60, 60));
    }

    [Fact]
    public void PromptsAlwaysAdvance()
    {
        // 5 ms per token and no fixed cost, a target of 1 ms: not one token fits, and the floor still schedules one.
        var budget = new StepTimeBudget(TimeSpan.FromMilliseconds(1), 512);
        foreach (int n in new[] { 4, 8, 16, 32 }) budget.Observe(n, TimeSpan.FromMilliseconds(5.0 * n));
        Assert.Equal(1 + StepTimeBudget.MinPromptTokens, budget.NextBudget(1, 1));
        // Ten decodes (50 ms) are slowed by at most the headroom, 1.25 x: 12 tokens, two of them prompt tokens.
        Assert.Equal(12, budget.NextBudget(10, 10));
    }

    [Fact]
    public void TheCapBoundsEverything()
    {
        Assert.Equal(32, Fed(32, 8, 16, 24).NextBudget(1, 1));
        Assert.Equal(32, Fed(32, 8, 16, 24).NextBudget(100, 100)); // the floor too
    }

    [Fact]
    public void ConstantStepSizesChargeTheWholeStepToItsTokens()
    {
        // Always 40 tokens in 220 ms: no slope to learn; 5.5 ms per token, a = 0: 250 / 5.5 = 45.
        var budget = new StepTimeBudget(Target, 512);
        for (int i = 0; i < 10; i++) budget.Observe(40, TimeSpan.FromMilliseconds(220));
        Assert.Equal(45, budget.NextBudget(2, 2));
    }

    [Fact]
    public void OnlyTheLastWindowOfStepsCounts()
    {
        var budget = Fed(512, 8, 16, 32, 64);
        // The machine became twice as slow: 40 ms + 10 ms per token, for a whole window.
        for (int i = 0; i < StepTimeBudget.Window; i++)
        {
            int n = 8 + i % 5 * 8;
            budget.Observe(n, TimeSpan.FromMilliseconds(40 + 10.0 * n));
        }
        Assert.Equal(21, budget.NextBudget(1, 1)); // (250 - 40) / 10
    }

    [Fact]
    public void WithNobodyDecodingAStepTakesTheCap()
    {
        // 16 prompts computing, none has a token yet: no client waits between tokens, so the target does not apply.
        Assert.Equal(512, Fed(512, 8, 16, 32, 64, 17, 40).NextBudget(16, 0));
        // The first token of one of them brings the target back: (250 - 20) / 5.
        Assert.Equal(46, Fed(512, 8, 16, 32, 64, 17, 40).NextBudget(16, 1));
    }

    [Fact]
    public void EmptyStepsAreNotSamples() => Assert.Equal(512, Observed(0).NextBudget(1, 1));

    private static StepTimeBudget Observed(int tokens)
    {
        var budget = new StepTimeBudget(Target, 512);
        budget.Observe(tokens, TimeSpan.FromMilliseconds(5));
        return budget;
    }

    [Fact]
    public void ATargetNeedsChunkedPrefill()
    {
        var e = Assert.Throws<ArgumentException>(() => FixtureModel.Get("llama-gqa").CreateEngine(
            new EngineOptions { StepTimeTarget = Target, EnableChunkedPrefill = false }, numBlocks: 16));
        Assert.Contains("chunked prefill", e.Message);
    }

    [Fact]
    public void UnderATargetTheDefaultCapIsTheTimedOne() =>
        Assert.Equal(EngineOptions.DefaultTimedStepTokens, new EngineOptions { StepTimeTarget = Target }.StepTokenBudget);

    /// <summary>
    /// A target no step can meet shrinks every step to its floor (running requests + one prompt token): the outputs are the
    /// same tokens as under the fixed budget, as chunking never changes what a request computes.
    /// </summary>
    [Fact]
    public void TheOutputsDoNotDependOnTheStepTimeControl()
    {
        var model = FixtureModel.Get("llama-gqa");
        var greedy = new SamplingParams { Temperature = 0, MaxTokens = 12, IgnoreEos = true };
        string[] Run(EngineOptions options)
        {
            using var engine = model.CreateEngine(options, numBlocks: 64);
            for (int i = 0; i < 5; i++) engine.Add($"r{i}", model.Prompt(40 + 9 * i, seed: i), greedy);
            engine.RunToCompletion();
            return [.. Enumerable.Range(0, 5).Select(i => string.Join(',', engine.Tokens[$"r{i}"]))];
        }
        var fixedBudget = Run(new EngineOptions { MaxNumBatchedTokens = 256 });
        var timed = Run(new EngineOptions { StepTimeTarget = TimeSpan.FromTicks(1), MaxNumBatchedTokens = 256 });
        Assert.Equal(fixedBudget, timed);
    }
}
