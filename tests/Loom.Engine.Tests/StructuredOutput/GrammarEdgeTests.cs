using System.Text.RegularExpressions;
using Loom.Core.Sampling;
using Loom.Engine.Sampling;
using Loom.Engine.StructuredOutput;
using Loom.Engine.Tests.Engine;
using Loom.Grammar;
using Loom.Grammar.Ast;
using Loom.Grammar.Frontends;
using Loom.Grammar.Matching;
using Loom.Tokenizers;
using Loom.Tests;

namespace Loom.Engine.Tests.StructuredOutput;

/// <summary>A grammar beside min_tokens, and a grammar whose compilation fails after the request was queued.</summary>
public class GrammarEdgeTests
{
    private static readonly Lazy<(HfTokenizer Tokenizer, GrammarCompilationCache Cache, int Eos)> Setup = new(() =>
    {
        var tokenizer = HfTokenizer.FromDirectory(Path.Combine(RepoPaths.Fixtures, "tokenizers", "bytebpe-qwen"));
        int eos = tokenizer.TokenToId("<|im_end|>")!.Value;
        return (tokenizer, new GrammarCompilationCache(TokenizerVocabulary.From(tokenizer, [eos])), eos);
    });

    /// <summary>Samples with logits that favour EOS strongly, so only the masks keep the output going.</summary>
    private static async Task<(string Text, int Tokens, bool Ended)> SampleAsync(string regex, int minTokens, int seed)
    {
        var (tokenizer, cache, eos) = Setup.Value;
        var compilation = cache.GetOrCompile("regex:" + regex, () => GrammarDefinition.FromExpr(RegexParser.ParseAnchored(regex)));
        await compilation.Task;
        var p = new SamplingParams { Temperature = 1f, Seed = seed, MaxTokens = 60, MinTokens = minTokens };
        var sampler = new Sampler(p, [], tokenizer.VocabSize, [eos], constraints: [compilation.CreateProcessor()]);
        var scratch = new SamplerScratch();
        var rng = new Random(seed);
        var row = new float[tokenizer.VocabSize];
        var output = new List<int>();
        for (int step = 0; step < p.MaxTokens; step++)
        {
            for (int i = 0; i < row.Length; i++) row[i] = (float)rng.NextDouble();
            row[eos] = 50;
            int token = sampler.Sample(row, scratch).TokenId;
            if (token == eos) return (tokenizer.Decode([.. output]), output.Count, true);
            output.Add(token);
        }
        return (tokenizer.Decode([.. output]), output.Count, false);
    }

    [Fact]
    public async Task Min_tokens_masks_eos_until_reached_and_the_output_still_matches()
    {
        for (int seed = 0; seed < 8; seed++)
        {
            var (text, tokens, ended) = await SampleAsync("[a-z]{1,400}", minTokens: 9, seed);
            Assert.True(ended, text);
            Assert.Equal(9, tokens); // EOS is favoured: it comes as soon as both allow it
            Assert.Matches(new Regex("^[a-z]{1,400}$"), text);
        }
    }

    [Fact]
    public async Task A_grammar_that_must_end_before_min_tokens_ends_validly()
    {
        var (text, _, ended) = await SampleAsync("(yes|no)", minTokens: 10, seed: 1);
        Assert.True(ended);
        Assert.Contains(text, (string[])["yes", "no"]);
    }

    private static FixtureModel Model => FixtureModel.Get("llama-gqa");
    private static readonly SamplingParams Greedy = new() { Temperature = 0, MaxTokens = 6, IgnoreEos = true };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_compilation_that_fails_after_intake_ends_only_its_request(bool failsWhileQueued)
    {
        int[] good = Model.Prompt(20, seed: 1), bad = Model.Prompt(12, seed: 2);
        using var host = Model.CreateEngine(new EngineOptions { BlockSize = 16, MaxNumBatchedTokens = 64 }, numBlocks: 32);
        var masks = new TaskCompletionSource<TokenGrammar>();
        if (!failsWhileQueued) masks.SetException(new GrammarException("the grammar has too many states"));
        host.Add("good", good, Greedy);
        host.Engine.AddRequest(new EngineRequest("bad", bad, Greedy with { N = 2, Temperature = 1, Seed = 3 }) { Grammar = new GrammarCompilation(masks.Task) });
        host.Step();
        host.Step();
        if (failsWhileQueued) masks.SetException(new GrammarException("the grammar has too many states"));
        host.RunToCompletion();

        var failed = host.Last["bad"];
        Assert.True(failed.Finished);
        Assert.Contains("too many states", Assert.IsType<RequestFailedException>(failed.Error).InnerException!.Message);
        Assert.Null(host.Last["good"].Error);
        Assert.Equal(6, host.Tokens["good"].Count);
        Assert.Equal(0, host.Engine.GetStats().NumBlocksUsed);
        host.Add("next", good, Greedy);
        host.RunToCompletion();
        Assert.Equal(host.Tokens["good"], host.Tokens["next"]);
    }
}
