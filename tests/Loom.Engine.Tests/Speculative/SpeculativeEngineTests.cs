using Loom.Core.Sampling;
using Loom.Engine.Tests.Engine;

namespace Loom.Engine.Tests.Speculative;

/// <summary>
/// Speculation through the whole engine beyond greedy equality: token stops (EOS, stop_token_ids, max_tokens) that fall
/// inside an accepted run end the request at that token, as without speculation; seeded sampling is reproducible with
/// speculation on; disable_by_batch_size switches drafting off for large batches; aborts leave no block held.
/// </summary>
public class SpeculativeEngineTests
{
    private static readonly EngineOptions Options = new() { BlockSize = 4, MaxNumSeqs = 16, MaxNumBatchedTokens = 64 };

    /// <summary>Demo-model prompts whose greedy continuations repeat (the model copies), so drafts are accepted.</summary>
    internal static readonly string[] RepetitivePrompts =
    [
        "The KV cache",
        "We propose a scheduler. We propose a scheduler. We propose a scheduler. We propose",
        "memory bandwidth, memory bandwidth, memory bandwidth, memory",
        "In this paper, we present a system for serving. In this paper, we present a system for serving. In this paper,",
        "large language models (LLMs) large language models (LLMs) large language",
        "the the the the the",
    ];

    [Fact]
    public void Stops_inside_an_accepted_run_end_the_request_at_that_token()
    {
        var model = FixtureModel.Get(FixtureModel.Demo);
        var prompts = RepetitivePrompts.Select(p => model.Tokenizer.Encode(p, addSpecialTokens: true)).ToArray();
        var free = new SamplingParams { Temperature = 0, MaxTokens = 17, IgnoreEos = true };
        using var reference = SpeculativeGreedyTests.Run(model, prompts, Options, 512, free);
        // Stop ids taken from the middle of some outputs (a token not seen earlier in it), so they land inside runs of drafts.
        int[] stopIds = [.. Enumerable.Range(0, 4).Select(i => FirstNewTokenAfter(reference.Tokens[$"r{i}"], 8 + i)).Where(t => t >= 0)];
        var stopping = new SamplingParams { Temperature = 0, MaxTokens = 17, StopTokenIds = stopIds };
        using var plain = SpeculativeGreedyTests.Run(model, prompts, Options, 512, stopping);
        using var spec = SpeculativeGreedyTests.Run(model, prompts, Options with { Speculative = SpeculativeGreedyTests.Ngram }, 512, stopping);
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(plain.Tokens[$"r{i}"], spec.Tokens[$"r{i}"]);
            var (p, s) = (plain.Last[$"r{i}"].Deltas[^1], spec.Last[$"r{i}"].Deltas[^1]);
            Assert.Equal((p.FinishReason, p.StopReason), (s.FinishReason, s.StopReason));
        }
        Assert.Contains(plain.Last.Values, o => !o.Deltas[^1].StopReason.IsNone);
        var stats = spec.Engine.GetStats().SpecDecoding!;
        Assert.True(stats.NumAcceptedTokens > 0, $"{stats.NumAcceptedTokens} of {stats.NumDraftTokens} accepted; outputs: {string.Join(" | ", spec.Tokens.Values.Select(t => string.Join(",", t)))}");
    }

    private static int FirstNewTokenAfter(List<int> output, int position)
    {
        for (int p = position; p < output.Count; p++)
            if (output.IndexOf(output[p]) == p) return output[p];
        return -1;
    }

    [Fact]
    public void Seeded_sampling_with_speculation_is_reproducible()
    {
        var model = FixtureModel.Get("llama-gqa");
        var prompts = SpeculativeGreedyTests.Prompts(model, 6);
        var seeded = new SamplingParams { Temperature = 0.8f, TopP = 0.95f, TopK = 40, Seed = 11, MaxTokens = 24, IgnoreEos = true, FrequencyPenalty = 0.2f };
        var options = Options with { Speculative = SpeculativeGreedyTests.Ngram };
        using var first = SpeculativeGreedyTests.Run(model, prompts, options, 512, seeded);
        using var second = SpeculativeGreedyTests.Run(model, prompts, options, 512, seeded);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(first.Tokens[$"r{i}"], second.Tokens[$"r{i}"]);
        Assert.True(first.Engine.GetStats().SpecDecoding!.NumDraftTokens > 0);
    }

    [Fact]
    public void Disable_by_batch_size_turns_drafting_off_for_large_batches()
    {
        var model = FixtureModel.Get("llama-gqa");
        var prompts = SpeculativeGreedyTests.Prompts(model, 8);
        var options = Options with { MaxNumBatchedTokens = 512, Speculative = SpeculativeGreedyTests.Ngram with { DisableByBatchSize = 8 } };
        using var spec = SpeculativeGreedyTests.Run(model, prompts, options, 512,
            new SamplingParams { Temperature = 0, MaxTokens = 8, IgnoreEos = true, MinTokens = 8 });
        // All 8 run together every step from the first (same max_tokens), so nothing is ever drafted.
        Assert.Equal(0, spec.Engine.GetStats().SpecDecoding!.NumDrafts);
    }

    [Fact]
    public void Aborts_between_verification_steps_free_every_block()
    {
        var model = FixtureModel.Get("llama-gqa");
        var prompts = SpeculativeGreedyTests.Prompts(model, 6);
        using var engine = model.CreateEngine(Options with { Speculative = SpeculativeGreedyTests.Ngram }, 512, maxModelLen: 256);
        for (int i = 0; i < prompts.Length; i++) engine.Add($"r{i}", prompts[i], new SamplingParams { Temperature = 0, MaxTokens = 40, IgnoreEos = true });
        for (int step = 0; engine.Engine.HasWork; step++)
        {
            engine.Step();
            if (step >= 3 && step % 2 == 1) engine.Engine.Abort($"r{step / 2 % prompts.Length}");
        }
        Assert.Equal(0, engine.Engine.GetStats().NumBlocksUsed); // and the idle self-check passed on the way out
    }
}
