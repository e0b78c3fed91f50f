using System.Text.Json;
using Loom.Engine.ToolCalls;

namespace Loom.Engine.Tests.ToolCalls;

/// <summary>Which tool requests get a grammar constraint, and which are refused naming the field.</summary>
public class ToolCallPlanTests
{
    private static readonly JsonElement Schema = JsonDocument.Parse("""{"type":"object","properties":{"a":{"type":"string"}}}""").RootElement;
    private static readonly ToolFunction Plain = new("f", null, Schema);
    private static readonly ToolFunction Strict = new("g", null, Schema, Strict: true);

    private static ToolCallPlan Plan(ToolChoice choice, string parser, params ToolFunction[] tools) =>
        ToolCallPlan.Create(tools, choice, null, ToolCallParsers.ByName(parser), canConstrain: true);

    [Fact]
    public void Required_and_named_functions_get_constraints_over_their_functions()
    {
        Assert.Equal(["f", "g"], Plan(ToolChoice.Required, "hermes", Plain, Strict).Constraint!.Functions.Select(f => f.Name));
        var named = Plan(ToolChoice.Named("g"), "llama3_json", Plain, Strict).Constraint!;
        Assert.Equal(["g"], named.Functions.Select(f => f.Name));
        Assert.False(named.AfterText);
    }

    [Fact]
    public void Strict_under_auto_is_constrained_after_text_and_plain_auto_is_not()
    {
        Assert.Null(Plan(ToolChoice.Auto, "hermes", Plain).Constraint);
        Assert.True(Plan(ToolChoice.Auto, "hermes", Plain, Strict).Constraint!.AfterText);
    }

    [Theory]
    [InlineData("auto", "llama3_json", "tools[1].function.strict", "no marker")]
    [InlineData("auto", "mistral", "tools[1].function.strict", "special token")]
    [InlineData("required", "mistral", "tool_choice", "special token")]
    public void What_a_grammar_cannot_enforce_for_a_family_is_refused(string choice, string parser, string param, string says)
    {
        var mode = choice == "auto" ? ToolChoice.Auto : ToolChoice.Required;
        var e = Assert.Throws<ArgumentException>(() => Plan(mode, parser, Plain, Strict));
        Assert.Equal(param, e.ParamName);
        Assert.Contains(says, e.Message);
    }

    [Fact]
    public void Without_a_grammar_engine_required_and_strict_are_refused()
    {
        var hermes = ToolCallParsers.ByName("hermes");
        Assert.Equal("tool_choice", Assert.Throws<ArgumentException>(() => ToolCallPlan.Create([Plain], ToolChoice.Required, null, hermes, false)).ParamName);
        Assert.Equal("tools[0].function.strict", Assert.Throws<ArgumentException>(() => ToolCallPlan.Create([Strict], ToolChoice.Auto, null, hermes, false)).ParamName);
        Assert.Equal("tool_choice", Assert.Throws<ArgumentException>(() => Plan(ToolChoice.Named("nope"), "hermes", Plain)).ParamName);
    }
}
