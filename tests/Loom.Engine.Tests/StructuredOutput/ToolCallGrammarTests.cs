using System.Text;
using System.Text.Json;
using Json.Schema;
using Loom.Engine.StructuredOutput;
using Loom.Engine.ToolCalls;
using Loom.Grammar.Compile;
using Loom.Grammar.Matching;
using Loom.Grammar.Vocab;
using Loom.Tokenizers;
using Loom.Tests;

namespace Loom.Engine.Tests.StructuredOutput;

/// <summary>
/// The tool-call grammar against the family's own parser: random walks through the grammar over a real vocabulary
/// always read back as calls of the allowed functions whose arguments validate (JsonSchema.Net, independently).
/// </summary>
public class ToolCallGrammarTests
{
    private const string CitySchema = """
        {"type":"object","properties":{"city":{"type":"string","maxLength":8},"days":{"type":"integer","minimum":1,"maximum":7}},
         "required":["city"],"additionalProperties":false}
        """;
    private const string ZoneSchema = """{"type":"object","properties":{"zone":{"enum":["UTC","CET"]}},"required":["zone"]}""";

    private static readonly Lazy<TokenVocabulary> Vocabulary = new(() =>
    {
        var tokenizer = HfTokenizer.FromDirectory(Path.Combine(RepoPaths.Fixtures, "tokenizers", "bytebpe-qwen"));
        return TokenizerVocabulary.From(tokenizer, [tokenizer.TokenToId("<|im_end|>")!.Value]);
    });

    private static readonly ToolFunction[] Functions =
    [
        new("get_weather", null, JsonDocument.Parse(CitySchema).RootElement, Strict: true),
        new("get_time", null, JsonDocument.Parse(ZoneSchema).RootElement),
        new("ping", null, null),
    ];

    private static readonly Dictionary<string, string?> Schemas = new() { ["get_weather"] = CitySchema, ["get_time"] = ZoneSchema, ["ping"] = null };

    private static List<string> Walks(ToolCallConstraint constraint, int count, string? prefix = null)
    {
        var grammar = new TokenGrammar(GrammarCompiler.Compile(ToolCallGrammar.Build(constraint)), Vocabulary.Value);
        var rng = new Random(11);
        var outputs = new List<string>();
        for (int i = 0; i < count * 4 && outputs.Count < count; i++)
        {
            var (text, ended) = Walk(grammar, rng, 300, i % 2 == 0 ? prefix : null);
            if (ended) outputs.Add(text);
        }
        Assert.True(outputs.Count >= count / 2, $"only {outputs.Count} walks ended");
        return outputs;
    }

    /// <summary>Random allowed tokens, ending as soon as the grammar can; closing characters are preferred half the time.</summary>
    /// <param name="prefix">Written first as forced text (the model choosing to begin a call).</param>
    private static (string Text, bool Ended) Walk(TokenGrammar grammar, Random rng, int maxTokens, string? prefix)
    {
        var matcher = grammar.CreateMatcher();
        var vocab = grammar.Vocabulary;
        var mask = new ulong[vocab.MaskWords];
        var output = new List<byte>(Encoding.UTF8.GetBytes(prefix ?? ""));
        if (prefix is not null) Assert.True(matcher.TryAdvanceBytes(Encoding.UTF8.GetBytes(prefix)));
        for (int step = 0; step < maxTokens; step++)
        {
            matcher.ComputeMask(mask);
            if (matcher.CanEnd && (rng.NextDouble() < 0.2 || matcher.IsFinished)) return (Encoding.UTF8.GetString([.. output]), true);
            var allowed = Enumerable.Range(0, vocab.Size).Where(t => (mask[t >> 6] & (1UL << t)) != 0 && !vocab.EosTokenIds.Contains(t)).ToArray();
            var closing = allowed.Where(t => vocab.BytesOf(t).IndexOfAny("\"}<>"u8) >= 0).ToArray();
            var pool = closing.Length > 0 && rng.NextDouble() < 0.5 ? closing : allowed;
            int token = pool[rng.Next(pool.Length)];
            Assert.True(matcher.TryAdvance(token));
            output.AddRange(vocab.BytesOf(token).ToArray());
        }
        return (Encoding.UTF8.GetString([.. output]), false);
    }

    private static void AssertCallsValid(IReadOnlyList<ToolCall> calls, ICollection<string> allowed, bool checkAll)
    {
        foreach (var call in calls)
        {
            Assert.Contains(call.Name, allowed);
            if (!checkAll && call.Name != "get_weather") continue;
            using var arguments = JsonDocument.Parse(call.Arguments);
            if (Schemas[call.Name] is not { } schema)
            {
                Assert.Equal("{}", call.Arguments);
                continue;
            }
            var result = JsonSchema.FromText(schema, new BuildOptions { SchemaRegistry = new SchemaRegistry() }).Evaluate(arguments.RootElement);
            Assert.True(result.IsValid, call.Arguments);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Required_outputs_are_only_calls_that_parse_and_validate(bool parallel)
    {
        var parser = new HermesToolCallParser();
        foreach (var text in Walks(new ToolCallConstraint(Functions, parallel, parser.Format), 12))
        {
            var (content, calls) = ToolCallStream.ParseWhole(parser, text);
            Assert.Null(content);
            Assert.True(parallel ? calls.Count >= 1 : calls.Count == 1, text);
            AssertCallsValid(calls, Schemas.Keys, checkAll: true);
        }
    }

    [Fact]
    public void A_named_function_is_the_only_one_written()
    {
        var parser = new HermesToolCallParser();
        foreach (var text in Walks(new ToolCallConstraint([Functions[1]], false, parser.Format), 8))
            AssertCallsValid(ToolCallStream.ParseWhole(parser, text).Calls, ["get_time"], checkAll: true);
    }

    [Fact]
    public void Strict_under_auto_is_free_text_with_valid_strict_calls()
    {
        var parser = new HermesToolCallParser();
        int withCalls = 0;
        foreach (var text in Walks(new ToolCallConstraint(Functions, true, parser.Format, AfterText: true), 20, "Let me see. <tool_call>"))
        {
            var (_, calls) = ToolCallStream.ParseWhole(parser, text);
            withCalls += calls.Count > 0 ? 1 : 0;
            Assert.Equal(text.Split("<tool_call>").Length - 1, calls.Count);
            AssertCallsValid(calls, Schemas.Keys, checkAll: false);
        }
        Assert.True(withCalls > 0, "no walk wrote a call");
    }

    [Fact]
    public void A_parameters_schema_that_cannot_be_enforced_is_refused_naming_the_function()
    {
        var bad = new ToolFunction("f", null, JsonDocument.Parse("""{"type":"object","properties":{"a":{"if":{}}}}""").RootElement);
        var e = Assert.Throws<ArgumentException>(() => ToolCallGrammar.Build(new ToolCallConstraint([bad], false, new HermesToolCallParser().Format)));
        Assert.Equal("tools", e.ParamName);
        Assert.Contains("'f'", e.Message);
    }
}
