using System.Text.Json;
using Json.Schema;
using Loom.Core.Sampling;
using Loom.Engine.Sampling;
using Loom.Engine.StructuredOutput;
using Loom.Grammar;
using Loom.Grammar.Frontends;
using Loom.Tokenizers;
using Loom.Tests;

namespace Loom.Engine.Tests.StructuredOutput;

public class GrammarLogitsProcessorTests
{
    private const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":12},"n":{"type":"integer","minimum":-5,"maximum":500},
         "tags":{"type":"array","items":{"enum":["x","y z"]},"maxItems":3},"ok":{"type":["boolean","null"]}},
         "required":["name","n"],"additionalProperties":false}
        """;

    private static readonly Lazy<(HfTokenizer Tokenizer, GrammarCompilationCache Cache, int Eos)> Setup = new(() =>
    {
        var tokenizer = HfTokenizer.FromDirectory(Path.Combine(RepoPaths.Fixtures, "tokenizers", "bytebpe-qwen"));
        int eos = tokenizer.TokenToId("<|im_end|>")!.Value;
        return (tokenizer, new GrammarCompilationCache(TokenizerVocabulary.From(tokenizer, [eos])), eos);
    });

    [Fact]
    public async Task Sampling_at_temperature_one_with_top_k_and_top_p_always_yields_valid_json()
    {
        var (tokenizer, cache, eos) = Setup.Value;
        var compilation = cache.GetOrCompile("json_schema:" + Schema, () => JsonSchemaGrammar.FromSchema(Schema));
        var grammar = await compilation.Task;
        var validator = JsonSchema.FromText(Schema, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
        // A padded logits row (the model has more rows than the tokenizer has ids): the extra ids must stay masked.
        int rowSize = tokenizer.VocabSize + 37;
        var closing = Enumerable.Range(0, tokenizer.VocabSize).Where(t => grammar.Vocabulary.BytesOf(t).IndexOfAny("\"}],"u8) >= 0).ToArray();
        int finished = 0;
        for (int seed = 0; seed < 30; seed++)
        {
            var p = new SamplingParams { Temperature = 1f, TopK = 50, TopP = 0.9f, Seed = seed, MaxTokens = 400 };
            var processor = compilation.CreateProcessor();
            var sampler = new Sampler(p, [], rowSize, [eos], constraints: [processor]);
            var scratch = new SamplerScratch();
            var rng = new Random(seed);
            var row = new float[rowSize];
            var output = new List<int>();
            for (int step = 0; step < p.MaxTokens; step++)
            {
                for (int i = 0; i < row.Length; i++) row[i] = (float)(rng.NextDouble() * 4);
                foreach (int t in closing) row[t] += 2; // lets strings close within a few hundred tokens
                int token = sampler.Sample(row, scratch).TokenId;
                Assert.True(token < tokenizer.VocabSize);
                if (token == eos) break;
                output.Add(token);
            }
            if (output.Count == p.MaxTokens) continue; // ran out of tokens before the object closed
            finished++;
            string text = tokenizer.Decode([.. output]);
            using var doc = JsonDocument.Parse(text);
            Assert.True(validator.Evaluate(doc.RootElement).IsValid, text);
        }
        Assert.True(finished >= 20, $"{finished} of 30 finished");
    }

    /// <summary>
    /// A draft model's drafts (<see cref="Sampler.Draft"/>) go through the grammar mask and advance the matcher
    /// tentatively, so each drafted position is masked after the drafts before it; undoing them rolls the matcher back.
    /// </summary>
    [Fact]
    public async Task Drafts_advance_the_grammar_tentatively_and_undo_rolls_it_back()
    {
        var (tokenizer, cache, eos) = Setup.Value;
        var compilation = cache.GetOrCompile("json_schema:" + Schema, () => JsonSchemaGrammar.FromSchema(Schema));
        await compilation.Task;
        var processor = compilation.CreateProcessor();
        var sampler = new Sampler(new SamplingParams { Temperature = 1f, Seed = 4, MaxTokens = 50 }, [], tokenizer.VocabSize, [eos], constraints: [processor]);
        var (scratch, rng) = (new SamplerScratch(), new Random(4));
        var (row, q) = (new float[tokenizer.VocabSize], new float[tokenizer.VocabSize]);
        var drafts = new List<int>();
        for (int j = 0; j < 6; j++)
        {
            for (int i = 0; i < row.Length; i++) row[i] = (float)(rng.NextDouble() * 4);
            int draft = sampler.Draft(row, q, scratch);
            Assert.True(draft >= 0 && q[draft] > 0, $"draft {j}: {draft}");
            Assert.Equal(1.0, q.Sum(x => (double)x), 3);
            drafts.Add(draft);
        }
        Assert.Equal(6, processor.Matcher.NumCommitted);
        sampler.UndoDrafts(drafts.ToArray());
        Assert.Equal((0, 0), (processor.Matcher.NumCommitted, sampler.NumOutputTokens));
        foreach (int draft in drafts) Assert.True(processor.Matcher.TryAdvance(draft)); // the drafts were a valid prefix
    }

    [Fact]
    public async Task The_gate_opens_when_masks_are_compiled_and_the_cache_compiles_each_key_once()
    {
        var (_, cache, _) = Setup.Value;
        var first = cache.GetOrCompile("regex:[a-c]{2}x", () => Grammar.Ast.GrammarDefinition.FromExpr(RegexParser.ParseAnchored("[a-c]{2}x")));
        var again = cache.GetOrCompile("regex:[a-c]{2}x", () => throw new InvalidOperationException("compiled twice"));
        Assert.Same(first, again);
        await first.Task;
        Assert.True(first.IsReady);
        Assert.Null(first.Error);
        Assert.True(first.CreateProcessor().Matcher.TryAdvanceBytes("ab"u8));
    }

    [Fact]
    public void Bad_grammars_fail_on_the_callers_thread_before_anything_is_queued()
    {
        var (_, cache, _) = Setup.Value;
        Assert.Throws<GrammarException>(() => cache.GetOrCompile("json_schema:bad", () => JsonSchemaGrammar.FromSchema("""{"type":"string","not":{}}""")));
        Assert.Throws<GrammarException>(() => cache.GetOrCompile("regex:none", () => Grammar.Ast.GrammarDefinition.FromExpr(RegexParser.ParseAnchored(@"[^\s\S]"))));
        Assert.Equal(0, cache.CountKeys(k => k.StartsWith("json_schema:bad") || k.StartsWith("regex:none")));
    }
}
