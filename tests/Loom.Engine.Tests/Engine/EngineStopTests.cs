using Loom.Engine.Output;
using Loom.Core.Requests;
using Loom.Core.Sampling;

namespace Loom.Engine.Tests.Engine;

/// <summary>
/// Token-based stops end a request in the step that sampled the stopping token, with its blocks freed at once: EOS,
/// a stop token id and max_tokens, each against a free-running greedy reference (the scheduler decides them now; the
/// output tracker used to).
/// </summary>
public class EngineStopTests
{
    private static FixtureModel Model => FixtureModel.Get("llama-gqa");
    private static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = 10, IgnoreEos = true };

    private static EngineOptions Options() => new() { BlockSize = 16, MaxNumBatchedTokens = 512 };

    private static List<int> FreeRun(int[] prompt)
    {
        using var free = Model.CreateEngine(Options(), numBlocks: 32);
        free.Add("x", prompt, Greedy);
        free.RunToCompletion();
        return free.Tokens["x"];
    }

    /// <summary>Runs to the end; returns the step the request finished in, its last delta and the blocks still used then.</summary>
    private static (int Step, CompletionDelta Last, int BlocksUsed, List<int> Tokens) Run(TestEngine engine, int[] prompt, SamplingParams p)
    {
        engine.Add("x", prompt, p);
        while (true)
        {
            engine.Step();
            if (engine.Last.TryGetValue("x", out var last) && last.Finished)
                return (engine.Steps, last.Deltas[^1], engine.Engine.GetStats().NumBlocksUsed, engine.Tokens["x"]);
        }
    }

    [Fact]
    public void EosStopIdAndMaxTokensStopInTheStepThatSampledTheToken()
    {
        var prompt = Model.Prompt(20, seed: 11);
        var tokens = FreeRun(prompt);
        int k = Enumerable.Range(2, 6).First(i => !tokens.Take(i).Contains(tokens[i])); // first fresh token past the start

        using (var eosEngine = Model.CreateEngine(Options(), numBlocks: 32, eosTokenIds: [tokens[k]]))
        {
            var eos = Run(eosEngine, prompt, Greedy with { IgnoreEos = false });
            Assert.Equal((k + 1, FinishReason.Stop, StopReason.None, 0), (eos.Step, eos.Last.FinishReason, eos.Last.StopReason, eos.BlocksUsed));
            Assert.Equal(tokens.Take(k + 1), eos.Tokens);
        }

        using (var stopIdEngine = Model.CreateEngine(Options(), numBlocks: 32))
        {
            var stopId = Run(stopIdEngine, prompt, Greedy with { StopTokenIds = [tokens[k]] });
            Assert.Equal((k + 1, FinishReason.Stop, StopReason.TokenId(tokens[k]), 0), (stopId.Step, stopId.Last.FinishReason, stopId.Last.StopReason, stopId.BlocksUsed));
        }

        using var lengthEngine = Model.CreateEngine(Options(), numBlocks: 32);
        var length = Run(lengthEngine, prompt, Greedy with { MaxTokens = 4 });
        Assert.Equal((4, FinishReason.Length, 0), (length.Step, length.Last.FinishReason, length.BlocksUsed));
        Assert.Equal(tokens.Take(4), length.Tokens);
    }
}
