using System.Text.Json;
using Json.Schema;
using Loom.Core.Sampling;
using Loom.Engine.Sampling;
using Loom.Engine.StructuredOutput;
using Loom.Grammar.Frontends;
using Loom.Grammar.Tests;
using Loom.Tokenizers;
using Loom.Tests;

namespace Loom.Engine.Tests.StructuredOutput;

/// <summary>
/// The complement of <see cref="DemoModelConstrainedSamplingTests"/> for schemas whose instances are unbounded
/// (strings without maxLength, additional properties under a schema, a pattern with +): random logits at temperature 1 through
/// the engine's own sampler and grammar processor on the demo model's vocabulary, so closing bytes can be favoured;
/// every output that ends parses and validates against its schema with JsonSchema.Net.
/// </summary>
public class RandomSchemaSamplingTests
{
    private static readonly Lazy<(HfTokenizer Tokenizer, GrammarCompilationCache Cache, int Eos, int[] Closing)> Setup = new(() =>
    {
        var tokenizer = HfTokenizer.FromDirectory(RepoPaths.DemoModel);
        int eos = tokenizer.TokenToId("<|endoftext|>")!.Value; // the demo model's EOS (id 0)
        var vocabulary = TokenizerVocabulary.From(tokenizer, [eos]);
        var closing = Enumerable.Range(0, tokenizer.VocabSize).Where(t => vocabulary.BytesOf(t).IndexOfAny("\"}],"u8) >= 0).ToArray();
        return (tokenizer, new GrammarCompilationCache(vocabulary), eos, closing);
    });

    [Fact]
    public async Task Every_output_sampled_under_a_random_schema_validates()
    {
        var (tokenizer, cache, eos, closing) = Setup.Value;
        int ended = 0, runs = 0;
        for (int schemaSeed = 0; schemaSeed < 10; schemaSeed++)
        {
            string schema = RandomSchemas.Generate(new Random(schemaSeed)).ToJsonString();
            var compilation = cache.GetOrCompile("json_schema:" + schema, () => JsonSchemaGrammar.FromSchema(schema));
            await compilation.Task;
            var validator = JsonSchema.FromText(schema, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
            for (int seed = 0; seed < 5; seed++, runs++)
            {
                var output = Sample(compilation, tokenizer.VocabSize, eos, closing, seed);
                if (output is null) continue; // ran out of tokens before the value closed
                ended++;
                string text = tokenizer.Decode([.. output]);
                using var doc = JsonDocument.Parse(text);
                var result = validator.Evaluate(doc.RootElement, new EvaluationOptions { RequireFormatValidation = true });
                Assert.True(result.IsValid, $"schema {schema}\noutput {text}");
            }
        }
        Assert.True(ended >= runs * 3 / 5, $"only {ended} of {runs} samples ended within the token limit");
    }

    /// <summary>Random logits at temperature 1 (closing bytes favoured a little so strings end); null if it never ended.</summary>
    private static List<int>? Sample(GrammarCompilation compilation, int rowSize, int eos, int[] closing, int seed)
    {
        var p = new SamplingParams { Temperature = 1f, Seed = seed, MaxTokens = 300 };
        var sampler = new Sampler(p, [], rowSize, [eos], constraints: [compilation.CreateProcessor()]);
        var scratch = new SamplerScratch();
        var rng = new Random(seed);
        var row = new float[rowSize];
        var output = new List<int>();
        for (int step = 0; step < p.MaxTokens; step++)
        {
            for (int i = 0; i < row.Length; i++) row[i] = (float)(rng.NextDouble() * 4);
            foreach (int t in closing) row[t] += 2;
            int token = sampler.Sample(row, scratch).TokenId;
            if (token == eos) return output;
            output.Add(token);
        }
        return null;
    }
}
