using Loom.Core.Sampling;

namespace Loom.Engine.Tests.Engine;

public class AsyncLlmTests
{
    private static FixtureModel Model => FixtureModel.Get("llama-gqa");
    private static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = 6, IgnoreEos = true };

    private static async Task<List<int>> Collect(IEngineClient client, string id, int[] prompt, SamplingParams p, CancellationToken ct = default)
    {
        var tokens = new List<int>();
        RequestOutput? last = null;
        await foreach (var output in client.GenerateAsync(new EngineRequest(id, prompt, p), ct))
        {
            tokens.AddRange(output.Deltas.SelectMany(d => d.NewTokenIds));
            last = output;
        }
        Assert.True(last?.Finished);
        return tokens;
    }

    [Fact]
    public async Task ConcurrentStreamsEachGetTheirOwnTokens()
    {
        var prompts = Enumerable.Range(0, 8).Select(i => Model.Prompt(3 + 9 * i, seed: 200 + i)).ToArray();
        using var reference = Model.CreateEngine(new EngineOptions { BlockSize = 16 }, numBlocks: 64);
        for (int i = 0; i < prompts.Length; i++)
        {
            reference.Add($"r{i}", prompts[i], Greedy);
            reference.RunToCompletion();
        }

        using var host = Model.CreateEngine(new EngineOptions { BlockSize = 16, MaxNumBatchedTokens = 32 }, numBlocks: 64);
        await using var llm = new AsyncLlm(host.Engine);
        var results = await Task.WhenAll(prompts.Select((p, i) => Collect(llm, $"r{i}", p, Greedy)));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(reference.Tokens[$"r{i}"], results[i]);
        var stats = llm.GetStats();
        Assert.Equal(0, stats.NumBlocksUsed);
        Assert.Equal(8L * 6, stats.GenerationTokensTotal);
    }

    [Fact]
    public async Task CancellationAbortsTheRequestAndFreesItsBlocks()
    {
        using var host = Model.CreateEngine(new EngineOptions { BlockSize = 16 }, numBlocks: 64);
        await using var llm = new AsyncLlm(host.Engine);
        using var cts = new CancellationTokenSource();
        var longRun = new SamplingParams { Temperature = 0, MaxTokens = 500, IgnoreEos = true };
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in llm.GenerateAsync(new EngineRequest("long", Model.Prompt(20, seed: 1), longRun), cts.Token))
                if (++seen == 2) cts.Cancel();
        });
        // Commands are applied in order, so once a later request completes the abort has been processed; the engine
        // went idle in between, so its idle self-check ran (a leak would have failed this request).
        await Collect(llm, "after", Model.Prompt(4, seed: 2), Greedy);
        var stats = llm.GetStats();
        Assert.Equal(0, stats.NumRunning);
        Assert.Equal(0, stats.NumBlocksUsed);
        Assert.True(stats.GenerationTokensTotal < 500);
    }

    [Fact]
    public async Task RejectedRequestFailsItsStreamWithTheField()
    {
        using var host = Model.CreateEngine(new EngineOptions { BlockSize = 16 }, numBlocks: 4, maxModelLen: 64);
        await using var llm = new AsyncLlm(host.Engine);
        var ex = await Assert.ThrowsAnyAsync<ArgumentException>(() => Collect(llm, "x", Model.Prompt(60, seed: 1), new SamplingParams { MaxTokens = 10 }));
        Assert.Equal("max_tokens", ex.ParamName);
        Assert.Equal(6, (await Collect(llm, "ok", Model.Prompt(5, seed: 1), Greedy)).Count); // the engine keeps serving
    }
}
