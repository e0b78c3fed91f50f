using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Loom.Grammar.Compile;
using Loom.Grammar.Frontends;
using Loom.Grammar.Matching;

namespace Loom.Grammar.Tests;

public class FrontendTests
{
    [Theory]
    [InlineData(@"[a-z]+@[a-z]+\.(com|org)")]
    [InlineData(@"\d{3}-\d{4}")]
    [InlineData(@"(yes|no|maybe)( please)?")]
    [InlineData(@"[A-Z][a-z]*( [A-Z][a-z]*){0,3}")]
    [InlineData(@"-?(0|[1-9]\d*)(\.\d+)?")]
    [InlineData(@"[^,\n]{1,8}(,[^,\n]{1,8})*")]
    [InlineData(@"(?:ab|a)c+\s?é")]
    public void Random_walks_match_the_regex(string pattern)
    {
        var vocab = TestVocabularies.Qwen;
        var g = new TokenGrammar(GrammarCompiler.Compile(GrammarDefinitionFromRegex(pattern)), vocab);
        var full = new Regex($"^(?:{pattern})$");
        var rng = new Random(pattern.Length);
        int ended = 0;
        for (int i = 0; i < 15; i++)
        {
            var (output, done) = MatcherOracle.RandomWalk(g, rng, 200, endBias: 0.5, prefer: t => vocab.BytesOf(t).IndexOfAny("@.-, "u8) >= 0);
            if (!done) continue;
            ended++;
            string text = Encoding.UTF8.GetString(output);
            Assert.Matches(full, text);
        }
        Assert.True(ended > 5, $"{ended} walks ended");
    }

    [Fact]
    public void Regex_masks_equal_brute_force()
    {
        var g = new TokenGrammar(GrammarCompiler.Compile(GrammarDefinitionFromRegex(@"(a|b)*abb(ab)?")),
            TestVocabularies.Synthetic("ab", 4));
        MatcherMaskTests.AssertMasksAgreeAlongRandomWalks(g, seeds: 10, steps: 12);
    }

    [Theory]
    [InlineData(@"(a)\1", "backreferences")]
    [InlineData(@"a(?=b)", "lookaround")]
    [InlineData(@"\bword", "word boundaries")]
    [InlineData(@"\p{L}", "Unicode property")]
    [InlineData(@"(ab", "missing ')'")]
    [InlineData(@"a{5,2}", "max below min")]
    public void Unsupported_regex_constructs_are_named(string pattern, string expected)
    {
        var e = Assert.Throws<GrammarException>(() => RegexParser.ParseAnchored(pattern));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_regex_that_matches_nothing_is_an_error()
    {
        var e = Assert.Throws<GrammarException>(() => GrammarCompiler.Compile(GrammarDefinitionFromRegex(@"a[^\s\S]")));
        Assert.Contains("matches nothing", e.Message);
    }

    [Fact]
    public void Choice_outputs_are_members()
    {
        string[] choices = ["positive", "negative", "neutral", "pos", "n/a 🙂"];
        var vocab = TestVocabularies.Qwen;
        var g = new TokenGrammar(GrammarCompiler.Compile(ChoiceGrammar.FromChoices(choices)), vocab);
        var rng = new Random(1);
        var seen = new HashSet<string>();
        for (int i = 0; i < 40; i++)
        {
            var (output, done) = MatcherOracle.RandomWalk(g, rng, 30, endBias: 0.5);
            Assert.True(done);
            string text = Encoding.UTF8.GetString(output);
            Assert.Contains(text, choices);
            seen.Add(text);
        }
        Assert.True(seen.Count >= 3);
        Assert.Throws<GrammarException>(() => ChoiceGrammar.FromChoices([]));
    }

    private const string JsonGbnf = """
        # llama.cpp's grammars/json.gbnf
        root   ::= object
        value  ::= object | array | string | number | ("true" | "false" | "null") ws

        object ::=
          "{" ws (
                    string ":" ws value
            ("," ws string ":" ws value)*
          )? "}" ws

        array  ::=
          "[" ws (
                    value
            ("," ws value)*
          )? "]" ws

        string ::=
          "\"" (
            [^"\\\x7F\x00-\x1F] |
            "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
          )* "\"" ws

        number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

        # Optional space: by convention, applied in this grammar after literal chars when allowed
        ws ::= | " " | "\n" [ \t]{0,20}
        """;

    [Fact]
    public void Gbnf_json_grammar_walks_parse_as_json()
    {
        var vocab = TestVocabularies.Qwen;
        var g = new TokenGrammar(GrammarCompiler.Compile(GbnfParser.Parse(JsonGbnf)), vocab);
        var rng = new Random(5);
        int ended = 0;
        for (int i = 0; i < 15; i++)
        {
            var (output, done) = MatcherOracle.RandomWalk(g, rng, 200, endBias: 1.0, prefer: t => vocab.BytesOf(t).IndexOfAny("\"}]"u8) >= 0);
            if (!done) continue;
            ended++;
            using var doc = JsonDocument.Parse(output);
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        }
        Assert.True(ended > 5);
    }

    [Theory]
    [InlineData("root ::= \"a\" <[1234]>", "token references")]
    [InlineData("start ::= \"a\"", "no 'root' rule")]
    [InlineData("root ::= \"a", "unterminated")]
    [InlineData("root ::= x", "'x' is used but not defined")]
    [InlineData("root ::= root \"a\" | \"a\"", "left-recursive")]
    [InlineData("root = \"a\"", "expected '::='")]
    public void Gbnf_errors_say_what_is_wrong(string text, string expected)
    {
        var e = Assert.ThrowsAny<GrammarException>(() => GrammarCompiler.Compile(GbnfParser.Parse(text)));
        Assert.Contains(expected, e.Message);
    }

    private static Ast.GrammarDefinition GrammarDefinitionFromRegex(string pattern) =>
        Ast.GrammarDefinition.FromExpr(RegexParser.ParseAnchored(pattern));
}
