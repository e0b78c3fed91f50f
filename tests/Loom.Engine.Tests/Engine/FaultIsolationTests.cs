using Loom.Tests;
using Loom.Core.Sampling;

namespace Loom.Engine.Tests.Engine;

/// <summary>
/// A fault while serving one request ends that request with an error and frees its blocks; the others run on with
/// their own tokens. Only a fault in the shared forward pass stops the engine, and then it says so.
/// </summary>
public class FaultIsolationTests
{
    private static FixtureModel Model => FixtureModel.Get("llama-gqa");
    private static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = 6, IgnoreEos = true };
    private static EngineOptions Options => new() { BlockSize = 16, MaxNumBatchedTokens = 64 };

    private static List<int> Alone(int[] prompt, SamplingParams p)
    {
        using var reference = Model.CreateEngine(Options, numBlocks: 32);
        reference.Add("r", prompt, p);
        reference.RunToCompletion();
        return reference.Tokens["r"];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void ASamplingFaultEndsOnlyItsRequest(int n)
    {
        int[] good = Model.Prompt(20, seed: 1), bad = Model.Prompt(30, seed: 2);
        using var host = Model.CreateEngine(Options, numBlocks: 32);
        int badRows = 0;
        host.Engine.LogitsObserver = (request, _) =>
        {
            // The third row of the last sample of "bad" throws: a fault while sampling that one request.
            if (request.RequestId.StartsWith("bad", StringComparison.Ordinal) && request.SampleIndex == n - 1 && ++badRows == 3)
                throw new InvalidOperationException("injected sampling fault");
        };
        host.Add("good", good, Greedy);
        host.Add("bad", bad, Greedy with { N = n, Temperature = n == 1 ? 0 : 1, Seed = 5 });
        host.RunToCompletion(); // the idle self-check runs at the end: a leaked block would throw here

        var failed = host.Last["bad"];
        Assert.True(failed.Finished);
        Assert.Contains("injected sampling fault", Assert.IsType<RequestFailedException>(failed.Error).Message);
        Assert.Null(host.Last["good"].Error);
        Assert.Equal(Alone(good, Greedy), host.Tokens["good"]);
        Assert.Equal(0, host.Engine.GetStats().NumBlocksUsed);
        Assert.Equal(0, host.Engine.NumUnfinishedRequests);
    }

    [Fact]
    public void HugeMaxTokensIsRefusedAtIntakeNotOnTheEngineThread()
    {
        using var host = Model.CreateEngine(Options, numBlocks: 32);
        var ex = Assert.ThrowsAny<ArgumentException>(() => host.Add("huge", [5, 6], Greedy with { MaxTokens = int.MaxValue }));
        Assert.Equal("max_tokens", ex.ParamName);
        host.Add("next", [5, 6], Greedy);
        host.RunToCompletion();
        Assert.Equal(6, host.Tokens["next"].Count);
    }

    [Fact]
    public void LogitBiasOutsideTheVocabularyIsRefused()
    {
        using var host = Model.CreateEngine(Options, numBlocks: 32);
        var p = Greedy with { LogitBias = new Dictionary<int, float> { [Model.Config.VocabSize] = 1f } };
        Assert.Equal("logit_bias", Assert.ThrowsAny<ArgumentException>(() => host.Add("x", [5, 6], p)).ParamName);
    }

    [Fact]
    public void LogitBiasSteersGreedyDecoding()
    {
        using var host = Model.CreateEngine(Options, numBlocks: 32);
        host.Add("x", Model.Prompt(8, seed: 3), Greedy with { LogitBias = new Dictionary<int, float> { [42] = 100f } });
        host.RunToCompletion();
        Assert.All(host.Tokens["x"], t => Assert.Equal(42, t));
    }

    [Fact]
    public void StopTokenIdsCoveringTheVocabularyWithMinTokensDoNotFault()
    {
        using var host = Model.CreateEngine(Options, numBlocks: 32);
        var all = Enumerable.Range(0, Model.Config.VocabSize).ToArray();
        host.Add("x", Model.Prompt(8, seed: 3), new SamplingParams { Temperature = 1, MinTokens = 2, MaxTokens = 4, StopTokenIds = all, Seed = 1 });
        host.Add("y", Model.Prompt(8, seed: 4), new SamplingParams { Temperature = 1, RepetitionPenalty = 1e-38f, MaxTokens = 4, Seed = 1 });
        host.RunToCompletion();
        Assert.Null(host.Last["x"].Error);
        Assert.Null(host.Last["y"].Error);
        Assert.Equal(4, host.Tokens["y"].Count);
    }

    [Fact]
    public async Task NaNLogitsFailTheirRequestsButNotTheEngine()
    {
        FaultyExecutor? faulty = null;
        using var host = Model.CreateEngine(Options, numBlocks: 32, wrap: e => faulty = new FaultyExecutor(e));
        await using var llm = new AsyncLlm(host.Engine);
        faulty!.NaNLogits = true;
        var ex = await Assert.ThrowsAsync<RequestFailedException>(() => Collect(llm, "nan", Model.Prompt(8, seed: 1)));
        Assert.Contains("NaN", ex.Message);
        faulty.NaNLogits = false;
        Assert.Equal(Alone(Model.Prompt(8, seed: 1), Greedy), await Collect(llm, "after", Model.Prompt(8, seed: 1)));
        Assert.Null(llm.Fault);
    }

    [Fact]
    public async Task AForwardFaultKillsTheEngineAndSaysSo()
    {
        FaultyExecutor? faulty = null;
        using var host = Model.CreateEngine(Options, numBlocks: 32, wrap: e => faulty = new FaultyExecutor(e));
        await using var llm = new AsyncLlm(host.Engine);
        Assert.Equal(6, (await Collect(llm, "before", Model.Prompt(8, seed: 1))).Count);
        Assert.False(llm.Died.IsCompleted);

        faulty!.Throw = true;
        await Assert.ThrowsAsync<EngineDeadException>(() => Collect(llm, "dies", Model.Prompt(8, seed: 1)));
        var dead = await llm.Died;
        Assert.Same(dead, llm.Fault);
        Assert.Contains("injected kernel fault", dead.Message);
        await Assert.ThrowsAsync<EngineDeadException>(() => Collect(llm, "later", Model.Prompt(8, seed: 1)));
    }

    private static async Task<List<int>> Collect(AsyncLlm llm, string id, int[] prompt)
    {
        var tokens = new List<int>();
        await foreach (var output in llm.GenerateAsync(new EngineRequest(id, prompt, Greedy)))
            tokens.AddRange(output.Deltas.SelectMany(d => d.NewTokenIds));
        return tokens;
    }
}
