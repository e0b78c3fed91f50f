using System.Text;
using Loom.Grammar.Compile;
using Loom.Grammar.Frontends;
using Loom.Grammar.Matching;

namespace Loom.Grammar.Tests;

/// <summary>Exact languages of the pieces the schema converter builds, checked by acceptance of explicit texts.</summary>
public class JsonSchemaDetailTests
{

    private static Func<string, bool> Accepts(string schema, JsonGrammarOptions? options = null)
    {
        var g = new TokenGrammar(GrammarCompiler.Compile(JsonSchemaGrammar.FromSchema(schema, options)), TestVocabularies.Synthetic("a", 1));
        return text =>
        {
            var m = g.CreateMatcher();
            return m.TryAdvanceBytes(Encoding.UTF8.GetBytes(text)) && m.CanEnd;
        };
    }

    [Theory]
    [InlineData(-37, 412)]
    [InlineData(0, 9)]
    [InlineData(10, 10)]
    [InlineData(-250, -19)]
    [InlineData(95, 1203)]
    public void Integer_bounds_accept_exactly_the_integers_in_range(int lo, int hi)
    {
        var accepts = Accepts($$"""{"type":"integer","minimum":{{lo}},"maximum":{{hi}}}""");
        for (int v = -1300; v <= 1300; v++) Assert.True(accepts(v.ToString()) == (v >= lo && v <= hi), $"{v} in [{lo},{hi}]");
        Assert.False(accepts("-0"));
        Assert.False(accepts("007"));
    }

    [Fact]
    public void Number_bounds_accept_only_values_in_range()
    {
        var accepts = Accepts("""{"type":"number","minimum":-3,"exclusiveMaximum":5}""");
        foreach (string ok in new[] { "-3", "-2.5", "0", "0.001", "4.99", "4" }) Assert.True(accepts(ok), ok);
        foreach (string bad in new[] { "5", "5.0", "5.5", "-3.5", "-3.0", "-4", "12", "1e2" }) Assert.False(accepts(bad), bad);
        var exclusiveLow = Accepts("""{"type":"number","exclusiveMinimum":2,"maximum":3}""");
        foreach (string ok in new[] { "3", "2.5", "2.01" }) Assert.True(exclusiveLow(ok), ok);
        foreach (string bad in new[] { "2", "2.0", "3.5", "1.9" }) Assert.False(exclusiveLow(bad), bad);
    }

    [Fact]
    public void Optional_properties_keep_commas_right_and_required_ones_are_required()
    {
        var accepts = Accepts("""{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"}},"required":["b"],"additionalProperties":false}""");
        Assert.True(accepts("""{"b":1}"""));
        Assert.True(accepts("""{"a":1,"b":2}"""));
        Assert.True(accepts("""{"b":2, "c":3}"""));
        Assert.True(accepts("""{"a":1,"b":2,"c":3}"""));
        Assert.False(accepts("""{"a":1}"""));
        Assert.False(accepts("""{"a":1,,"b":2}"""));
        Assert.False(accepts("""{,"b":2}"""));
        Assert.False(accepts("""{"b":2,"d":4}"""));
    }

    [Fact]
    public void Additional_properties_never_repeat_a_declared_key()
    {
        var accepts = Accepts("""{"type":"object","properties":{"ab":{"type":"string"}},"additionalProperties":{"type":"integer"}}""");
        Assert.True(accepts("""{"ab":"x","a":1,"abc":2,"b":3}"""));
        Assert.True(accepts("""{"zz":1}"""));
        Assert.False(accepts("""{"ab":"x","ab":1}"""));
        Assert.False(accepts("""{"zz":"s"}"""));
    }

    [Fact]
    public void Whitespace_options_are_honoured()
    {
        const string schema = """{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}""";
        var compact = Accepts(schema, new JsonGrammarOptions(AnyWhitespace: false));
        Assert.True(compact("""{"a":1}"""));
        Assert.False(compact("""{"a": 1}"""));
        var pattern = Accepts(schema, new JsonGrammarOptions(WhitespacePattern: " ?"));
        Assert.True(pattern("""{ "a" : 1 }"""));
        Assert.False(pattern("{\n\"a\":1}"));
        var closed = Accepts(schema, new JsonGrammarOptions(DisableAdditionalProperties: true));
        Assert.False(closed("""{"a":1,"b":2}"""));
        Assert.True(Accepts(schema)("""{"a":1,"b":[true]}"""));
    }

    [Fact]
    public void Strings_with_length_bounds_count_characters_and_patterns_see_decoded_text()
    {
        var bounded = Accepts("""{"type":"string","minLength":2,"maxLength":3}""");
        Assert.True(bounded("\"ab\""));
        Assert.True(bounded("\"é\\n🙂\""));
        Assert.False(bounded("\"a\""));
        Assert.False(bounded("\"abcd\""));
        var pattern = Accepts("""{"type":"string","pattern":"^a\"b$"}""");
        Assert.True(pattern("\"a\\\"b\""));
        Assert.False(pattern("\"a\"b\""));
        var unanchored = Accepts("""{"type":"string","pattern":"[0-9]"}""");
        Assert.True(unanchored("\"x7y\""));
        Assert.False(unanchored("\"xy\""));
    }

    [Fact]
    public void Formats_accept_typical_values()
    {
        Assert.True(Accepts("""{"type":"string","format":"date"}""")("\"2024-02-28\""));
        Assert.False(Accepts("""{"type":"string","format":"date"}""")("\"2024-02-30\""));
        Assert.True(Accepts("""{"type":"string","format":"date-time"}""")("\"2024-02-28T13:05:00Z\""));
        Assert.True(Accepts("""{"type":"string","format":"uuid"}""")("\"123e4567-e89b-12d3-a456-426614174000\""));
        Assert.True(Accepts("""{"type":"string","format":"email"}""")("\"ada.lovelace@example.co.uk\""));
        Assert.False(Accepts("""{"type":"string","format":"email"}""")("\"ada@@example.com\""));
    }

    [Fact]
    public void Arrays_respect_min_and_max_items_and_prefix_items()
    {
        var accepts = Accepts("""{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}""");
        Assert.False(accepts("[]"));
        Assert.True(accepts("[1]"));
        Assert.True(accepts("[1, 2,3]"));
        Assert.False(accepts("[1,2,3,4]"));
        var tuple = Accepts("""{"type":"array","prefixItems":[{"type":"string"},{"type":"boolean"}],"items":false}""");
        Assert.True(tuple("""["a",true]"""));
        Assert.True(tuple("""["a"]"""));
        Assert.False(tuple("""["a",true,1]"""));
        Assert.False(tuple("""[true]"""));
    }
}
