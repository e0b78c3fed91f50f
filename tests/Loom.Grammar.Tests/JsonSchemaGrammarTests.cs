using System.Text;
using System.Text.Json;
using Json.Schema;
using Loom.Grammar.Compile;
using Loom.Grammar.Frontends;
using Loom.Grammar.Matching;

namespace Loom.Grammar.Tests;

public class JsonSchemaGrammarTests
{
    private static readonly EvaluationOptions Validate = new() { RequireFormatValidation = true };

    [Fact]
    public void Random_walks_through_allowed_tokens_of_random_schemas_parse_and_validate()
    {
        var vocab = TestVocabularies.Qwen;
        int ended = 0;
        for (int seed = 0; seed < 12; seed++)
        {
            var rng = new Random(seed);
            string schemaText = RandomSchemas.Generate(rng).ToJsonString();
            var g = new TokenGrammar(GrammarCompiler.Compile(JsonSchemaGrammar.FromSchema(schemaText)), vocab);
            var validator = JsonSchema.FromText(schemaText, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
            for (int walk = 0; walk < 6; walk++)
            {
                var (output, done) = MatcherOracle.RandomWalk(g, rng, maxTokens: 300, endBias: 1.0, prefer: t => Closes(vocab.BytesOf(t)));
                if (!done) continue;
                ended++;
                string text = Encoding.UTF8.GetString(output);
                using var doc = JsonDocument.Parse(text);
                var result = validator.Evaluate(doc.RootElement, Validate);
                Assert.True(result.IsValid, $"schema {schemaText}\noutput {text}");
            }
        }
        Assert.True(ended >= 36, $"only {ended} walks finished");
    }

    [Fact]
    public void Masks_equal_brute_force_on_a_json_schema_with_a_real_vocabulary()
    {
        string schema = """
            {"type":"object","properties":{"name":{"type":"string","maxLength":8},"age":{"type":"integer","minimum":0,"maximum":150},
             "tags":{"type":"array","items":{"enum":["a","b c"]},"maxItems":3},"ok":{"type":["boolean","null"]}},
             "required":["name","age"],"additionalProperties":false}
            """;
        var g = new TokenGrammar(GrammarCompiler.Compile(JsonSchemaGrammar.FromSchema(schema)), TestVocabularies.Qwen);
        MatcherMaskTests.AssertMasksAgreeAlongRandomWalks(g, seeds: 4, steps: 30);
    }

    [Fact]
    public void Json_object_walks_are_objects()
    {
        var vocab = TestVocabularies.Qwen;
        var g = new TokenGrammar(GrammarCompiler.Compile(JsonSchemaGrammar.AnyObject()), vocab);
        var rng = new Random(3);
        int ended = 0;
        for (int i = 0; i < 20; i++)
        {
            var (output, done) = MatcherOracle.RandomWalk(g, rng, 200, endBias: 1.0, prefer: t => Closes(vocab.BytesOf(t)));
            if (!done) continue;
            ended++;
            using var doc = JsonDocument.Parse(output);
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        }
        Assert.True(ended > 10);
    }

    [Theory]
    [InlineData("""{"type":"string","multipleOf":2}""", "multipleOf")]
    [InlineData("""{"type":"object","patternProperties":{"a":{}}}""", "patternProperties")]
    [InlineData("""{"not":{"type":"string"}}""", "not")]
    [InlineData("""{"type":"array","uniqueItems":true}""", "uniqueItems")]
    [InlineData("""{"type":"string","format":"hostname"}""", "format")]
    [InlineData("""{"type":"number","minimum":0.5}""", "minimum")]
    [InlineData("""{"$ref":"https://example.com/x.json"}""", "$ref")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "$ref")]
    [InlineData("""{"type":5}""", "schema")]
    [InlineData("""{"type":"object" """, "schema")]
    public void Unenforceable_or_invalid_schemas_are_errors_naming_the_keyword(string schema, string keyword)
    {
        var e = Assert.Throws<GrammarException>(() => JsonSchemaGrammar.FromSchema(schema));
        Assert.Equal(keyword, e.Keyword);
    }

    [Fact]
    public void Recursive_schemas_through_refs_compile_and_validate()
    {
        string schema = """
            {"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v"],"additionalProperties":false}},
             "$ref":"#/$defs/node"}
            """;
        var g = new TokenGrammar(GrammarCompiler.Compile(JsonSchemaGrammar.FromSchema(schema)), TestVocabularies.Qwen);
        var m = g.CreateMatcher();
        Assert.True(m.TryAdvanceBytes("""{"v": 1, "kids": [{"v":2}, {"v": 3, "kids": []}]}"""u8));
        Assert.True(m.CanEnd);
        var bad = g.CreateMatcher();
        Assert.False(bad.TryAdvanceBytes("""{"v": 1, "x": 2"""u8));
    }

    private static bool Closes(ReadOnlySpan<byte> bytes) => bytes.IndexOfAny("\"}],"u8) >= 0;
}
