using System.Text.Json;
using System.Text.RegularExpressions;
using Json.Schema;
using Loom.Core.Requests;
using Loom.Core.Sampling;
using Loom.Engine.StructuredOutput;
using Loom.Engine.Tests.Engine;
using Loom.Grammar.Frontends;
using Xunit.Abstractions;

namespace Loom.Engine.Tests.StructuredOutput;

/// <summary>
/// Issue 13's property on the demo model's own forward pass: random bounded schemas (nesting, enums, optional fields,
/// arrays, numbers with bounds, formats, nullable types, anyOf, $ref), random bounded regexes and random choices,
/// each sampled at temperature 1 with several seeds through the real engine, all requests in one batch. Every output
/// must end with EOS within the bound its generator computed (so a cut at max_tokens fails), and then parse and
/// validate against its schema with JsonSchema.Net, match its regex with .NET's engine, or equal one of its choices.
/// </summary>
public class DemoModelConstrainedSamplingTests(ITestOutputHelper log)
{
    private static FixtureModel Model => FixtureModel.Get(FixtureModel.Demo);

    /// <summary>A request's constraint, its token limit, and the check its output must pass.</summary>
    private sealed record Case(string Id, StructuredOutputSpec Spec, int MaxTokens, int Seed, Action<string> Check);

    [Fact]
    public async Task Every_output_under_a_random_schema_regex_or_choice_ends_and_obeys()
    {
        var cases = new List<Case>();
        cases.AddRange(SchemaCases(schemas: 16, seeds: 4));
        cases.AddRange(RegexCases(regexes: 16, seeds: 2));
        cases.AddRange(ChoiceCases(choiceLists: 8, seeds: 2));
        var cache = new GrammarCompilationCache(TokenizerVocabulary.From(Model.Tokenizer, Model.EosTokenIds));
        var grammars = cases.Select(c => cache.GetOrCompile(c.Spec.Key, c.Spec.Build)).ToList();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.WhenAll(grammars.Select(g => g.Task)); // compiled first, so every request starts in the first steps
        log.WriteLine($"{cache.Count} grammars compiled in {clock.ElapsedMilliseconds} ms");
        clock.Restart();

        using var host = Model.CreateEngine(new EngineOptions { MaxNumSeqs = cases.Count, MaxNumBatchedTokens = 1024 }, numBlocks: 1536);
        for (int i = 0; i < cases.Count; i++)
        {
            var c = cases[i];
            int[] prompt = Model.Tokenizer.Encode(Prompts[i % Prompts.Length]);
            var p = new SamplingParams { Temperature = 1f, Seed = c.Seed, MaxTokens = c.MaxTokens };
            host.Engine.AddRequest(new EngineRequest(c.Id, prompt, p) { Grammar = grammars[i] });
        }
        host.RunToCompletion();
        log.WriteLine($"{cases.Count} requests, {host.Steps} steps in {clock.ElapsedMilliseconds} ms, longest output "
            + $"{cases.Max(c => host.Tokens[c.Id].Count)} tokens, mean {cases.Average(c => host.Tokens[c.Id].Count):F0}");

        foreach (var c in cases)
        {
            string text = host.Text.GetValueOrDefault(c.Id, "");
            var finish = host.Last[c.Id].Deltas[^1].FinishReason;
            Assert.True(finish == FinishReason.Stop, $"{c.Id} ({c.Spec.Kind} {c.Spec.Source}) ended with {finish} after "
                + $"{host.Tokens[c.Id].Count} of {c.MaxTokens} tokens: {text}");
            c.Check(text);
        }
    }

    /// <summary>
    /// Every token carries at least one byte, so the output has at most maxBytes tokens, then EOS; one more because
    /// the engine, as vLLM, calls an EOS that lands exactly on max_tokens a length finish.
    /// </summary>
    private static int TokenLimit(int maxBytes) => maxBytes + 2;

    private static readonly string[] Prompts = ["The scheduler", "We propose", "Results show that", "KV cache", "In this paper"];

    /// <summary>Half with Loom's default whitespace, half compact; the bound keeps every request inside max_model_len.</summary>
    private static IEnumerable<Case> SchemaCases(int schemas, int seeds)
    {
        var rng = new Random(13);
        for (int s = 0; s < schemas; s++)
        {
            bool compact = s % 2 == 1;
            var drawn = new BoundedSchemas(rng, compact ? 0 : BoundedSchemas.DefaultSpace).Generate(maxBytes: 480);
            string schema = drawn.Schema.ToJsonString();
            var spec = new StructuredOutputSpec(StructuredOutputKind.JsonSchema, "response_format", schema,
                JsonOptions: new JsonGrammarOptions(AnyWhitespace: !compact));
            var validator = JsonSchema.FromText(schema, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
            for (int seed = 0; seed < seeds; seed++)
                yield return new Case($"schema{s}-{seed}", spec, TokenLimit(drawn.MaxBytes), seed, text => AssertValid(validator, schema, text));
        }
    }

    private static void AssertValid(JsonSchema validator, string schema, string text)
    {
        using var doc = JsonDocument.Parse(text);
        var result = validator.Evaluate(doc.RootElement, new EvaluationOptions { RequireFormatValidation = true });
        Assert.True(result.IsValid, $"schema {schema}\noutput {text}");
    }

    private static IEnumerable<Case> RegexCases(int regexes, int seeds)
    {
        var generator = new BoundedRegexes(new Random(17));
        for (int r = 0; r < regexes; r++)
        {
            var drawn = generator.Generate();
            var spec = new StructuredOutputSpec(StructuredOutputKind.Regex, "structured_outputs.regex", drawn.Pattern);
            var whole = new Regex($"^(?:{drawn.Pattern})\\z"); // \z: .NET's $ would also match before a final newline
            for (int seed = 0; seed < seeds; seed++)
                yield return new Case($"regex{r}-{seed}", spec, TokenLimit(drawn.MaxBytes), seed,
                    text => Assert.True(whole.IsMatch(text), $"regex {drawn.Pattern}\noutput {JsonSerializer.Serialize(text)}"));
        }
    }

    private static readonly string[] Words = ["red", "green", "blue sky", "re", "redder", "a", "ab", "abc", "é", "日本", "x y z", "{\"k\": 1}", "yes", "no"];

    private static IEnumerable<Case> ChoiceCases(int choiceLists, int seeds)
    {
        var rng = new Random(19);
        for (int l = 0; l < choiceLists; l++)
        {
            var choices = Words.OrderBy(_ => rng.Next()).Take(2 + rng.Next(4)).ToArray();
            var spec = new StructuredOutputSpec(StructuredOutputKind.Choice, "structured_outputs.choice", Choices: choices);
            int maxBytes = choices.Max(c => System.Text.Encoding.UTF8.GetByteCount(c));
            for (int seed = 0; seed < seeds; seed++)
                yield return new Case($"choice{l}-{seed}", spec, TokenLimit(maxBytes), seed, text => Assert.Contains(text, choices));
        }
    }
}
