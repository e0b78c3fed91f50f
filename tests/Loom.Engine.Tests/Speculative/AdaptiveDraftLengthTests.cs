using Loom.Core.Sampling;
using Loom.Core.Scheduling;
using Loom.Engine.Speculative;
using Loom.Engine.Tests.Engine;

namespace Loom.Engine.Tests.Speculative;

/// <summary>
/// adaptive_k: a request's draft limit shrinks by one after a rejection and grows by one after a full accept, within
/// [1, num_speculative_tokens]; with it on, greedy output is still token for token that of plain decoding (for n-gram
/// and draft-model proposals), and fewer drafts are spent where they are rejected.
/// </summary>
public class AdaptiveDraftLengthTests
{
    private static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = 24, IgnoreEos = true };

    [Fact]
    public void The_limit_shrinks_after_rejections_and_grows_after_full_accepts()
    {
        var proposer = DraftProposer.Create(SpeculativeGreedyTests.Ngram with { AdaptiveK = true }, null, 64, 4);
        var request = new RunnerRequestState(new NewRequestData("r", [1, 2, 3], Greedy, 0, [], null), 100);
        int[] limits = [.. new (int Scheduled, int Accepted)[] { (4, 1), (3, 0), (2, 0), (1, 0), (1, 1), (2, 2), (3, 3), (4, 4), (4, 4), (0, 0) }
            .Select(step => { proposer.Observe(request, step.Scheduled, step.Accepted); return request.DraftLimit ?? 4; })];
        Assert.Equal([3, 2, 1, 1, 2, 3, 4, 4, 4, 4], limits);
    }

    [Fact]
    public void Off_by_default_the_limit_stays_num_speculative_tokens()
    {
        var proposer = DraftProposer.Create(SpeculativeGreedyTests.Ngram, null, 64, 4);
        var request = new RunnerRequestState(new NewRequestData("r", [1, 2, 3], Greedy, 0, [], null), 100);
        proposer.Observe(request, 4, 0);
        Assert.Null(request.DraftLimit);
    }

    public static TheoryData<string, bool> Cases => new()
    {
        { "llama-gqa", false },
        { "llama-gqa", true },
        { "qwen3-qknorm", true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Greedy_output_stays_exact_with_adaptive_k(string name, bool draftModel)
    {
        var model = FixtureModel.Get(name);
        var prompts = SpeculativeGreedyTests.Prompts(model, 16);
        var options = new EngineOptions { BlockSize = 4, MaxNumBatchedTokens = 64, MaxNumSeqs = 16 };
        var fixedK = draftModel ? DraftModelGreedyTests.DraftModel with { NumSpeculativeTokens = 4 } : SpeculativeGreedyTests.Ngram;
        var draft = draftModel ? model.Q4Draft : null;
        using var plain = Run(model, prompts, options, null);
        using var steady = Run(model, prompts, options with { Speculative = fixedK }, draft);
        using var adaptive = Run(model, prompts, options with { Speculative = fixedK with { AdaptiveK = true } }, draft);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(plain.Tokens[$"r{i}"], adaptive.Tokens[$"r{i}"]);
        var (s, a) = (steady.Engine.GetStats().SpecDecoding!, adaptive.Engine.GetStats().SpecDecoding!);
        Assert.True(a.NumDraftTokens - a.NumAcceptedTokens < s.NumDraftTokens - s.NumAcceptedTokens,
            $"adaptive k should waste fewer drafts: {a.NumAcceptedTokens} of {a.NumDraftTokens} against {s.NumAcceptedTokens} of {s.NumDraftTokens}");
    }

    private static TestEngine Run(FixtureModel model, int[][] prompts, EngineOptions options, DraftWeights? draft)
    {
        var engine = model.CreateEngine(options, 512, maxModelLen: 256, draft: draft);
        for (int i = 0; i < prompts.Length; i++) engine.Add($"r{i}", prompts[i], Greedy);
        engine.RunToCompletion();
        return engine;
    }
}
