using System.Text;
using Loom.Grammar.Ast;
using Loom.Grammar.Compile;
using Loom.Grammar.Frontends;
using Loom.Grammar.Matching;

namespace Loom.Grammar.Tests;

/// <summary>Free text that never writes a marker, then (in tool calling) a constrained call once it does.</summary>
public class TextWithoutMarkerTests
{
    private const string Marker = "<tool_call>";
    private static readonly string[] Pieces = ["<", "<t", "<tool_c", "<tool_call", "<tool_call>", "tool", "_call>", "x", ">", "é", " "];

    private static TokenGrammar Compile(GrammarDefinition definition) =>
        new(GrammarCompiler.Compile(definition), TestVocabularies.Synthetic("<tol_ca>x", 2));

    private static bool Accepts(TokenGrammar grammar, string text)
    {
        var matcher = grammar.CreateMatcher();
        return (text.Length == 0 || matcher.TryAdvanceBytes(Encoding.UTF8.GetBytes(text))) && matcher.CanEnd;
    }

    [Fact]
    public void Accepts_exactly_the_texts_without_the_marker()
    {
        var grammar = Compile(GrammarDefinition.FromExpr(TextWithoutMarker.Build(Marker)));
        var rng = new Random(7);
        for (int i = 0; i < 400; i++)
        {
            string text = string.Concat(Enumerable.Range(0, rng.Next(0, 8)).Select(_ => Pieces[rng.Next(Pieces.Length)]));
            Assert.Equal((text, !text.Contains(Marker, StringComparison.Ordinal)), (text, Accepts(grammar, text)));
        }
    }

    [Fact]
    public void Text_then_a_constrained_call_accepts_only_the_call_after_the_marker()
    {
        var definition = new GrammarDefinition();
        var call = definition.Import(ChoiceGrammar.FromChoices(["{\"a\"}"]), "call-");
        definition.Define("root", Expr.Seq(TextWithoutMarker.Build(Marker), Expr.Optional(Expr.Seq(Expr.Lit(Marker), call))));
        var grammar = Compile(definition);
        Assert.True(Accepts(grammar, "x <tool_c <<tool_call>{\"a\"}"));
        Assert.True(Accepts(grammar, "free text only <tool"));
        Assert.False(Accepts(grammar, "x <tool_call>{\"b\"}"));
        Assert.False(Accepts(grammar, "x <tool_call>{\"a\"} more"));
    }

    [Fact]
    public void Masks_equal_brute_force()
    {
        var grammar = Compile(GrammarDefinition.FromExpr(Expr.Seq(TextWithoutMarker.Build(Marker), Expr.Lit(Marker + "x"))));
        MatcherMaskTests.AssertMasksAgreeAlongRandomWalks(grammar, seeds: 6, steps: 16);
    }

    [Fact]
    public void Import_renames_rules_and_refuses_a_clash()
    {
        var definition = new GrammarDefinition();
        var first = definition.Import(JsonSchemaGrammar.FromSchema("""{"type":"integer"}"""), "a-");
        Assert.Equal(new RuleRefExpr("a-root"), first);
        Assert.All(definition.Rules.Keys, name => Assert.StartsWith("a-", name));
        Assert.Throws<ArgumentException>(() => definition.Import(JsonSchemaGrammar.FromSchema("""{"type":"integer"}"""), "a-"));
    }
}
