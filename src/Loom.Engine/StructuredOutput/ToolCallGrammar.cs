using System.Text;
using System.Text.Json;
using Loom.Engine.ToolCalls;
using Loom.Grammar;
using Loom.Grammar.Ast;
using Loom.Grammar.Frontends;

namespace Loom.Engine.StructuredOutput;

/// <summary>
/// The grammar of a <see cref="ToolCallConstraint"/>: calls written exactly as the family's parser reads them back,
/// <c>ListPrefix CallPrefix {"name": "N", "arguments": ARGS} CallSuffix (Separator ...)* ListSuffix</c>, where N is one
/// of the functions and ARGS is valid against that function's parameters schema (each schema compiled apart and
/// imported under its own prefix). For "auto" with strict functions, free text comes first and between calls, and a
/// call is forced once its marker is written.
/// </summary>
public static class ToolCallGrammar
{
    /// <exception cref="ArgumentException">A function's parameters schema cannot be enforced (param "tools").</exception>
    public static GrammarDefinition Build(ToolCallConstraint constraint)
    {
        ArgumentNullException.ThrowIfNull(constraint);
        var grammar = new GrammarDefinition();
        var format = constraint.Format;
        var call = Expr.Or(constraint.Functions.Select((f, i) => Call(grammar, f, i, constraint)));
        grammar.Define("call", call);
        var one = Expr.Ref("call");
        grammar.Define("root", constraint.AfterText ? AfterText(format, one, constraint.AllowParallel) : Listed(format, one, constraint.AllowParallel));
        return grammar;
    }

    /// <summary>The cache key: equal constraints compile once.</summary>
    public static string Key(ToolCallConstraint constraint)
    {
        var key = new StringBuilder("tools:").Append(constraint.AllowParallel).Append(':').Append(constraint.AfterText)
            .Append(':').Append(constraint.Format);
        foreach (var f in constraint.Functions)
            key.Append('\u0000').Append(f.Name).Append(':').Append(f.Strict).Append(':').Append(f.Parameters?.GetRawText());
        return key.ToString();
    }

    private static GrammarExpr Listed(ToolCallFormat format, GrammarExpr call, bool parallel)
    {
        var calls = parallel ? Expr.Seq(call, Expr.Star(Expr.Seq(Expr.Lit(format.Separator), call))) : call;
        return Expr.Seq(Expr.Lit(format.ListPrefix), calls, Expr.Lit(format.ListSuffix));
    }

    /// <summary>Text, then (when the model begins one) a call, then text again; with parallel calls, any number of them.</summary>
    private static GrammarExpr AfterText(ToolCallFormat format, GrammarExpr call, bool parallel)
    {
        string marker = format.Marker ?? throw new ArgumentException($"the {format} format has no call marker", nameof(format));
        if (!format.CallPrefix.StartsWith(marker, StringComparison.Ordinal) || format.ListPrefix.Length > 0)
            throw new ArgumentException($"calls must begin with their marker '{marker}'", nameof(format));
        var text = TextWithoutMarker.Build(marker);
        var calls = parallel ? Expr.Plus(Expr.Seq(call, text)) : Expr.Seq(call, text);
        return Expr.Seq(text, Expr.Optional(calls));
    }

    private static GrammarExpr Call(GrammarDefinition grammar, ToolFunction function, int index, ToolCallConstraint constraint)
    {
        var format = constraint.Format;
        var head = $"{format.CallPrefix}{{\"name\": {JsonSerializer.Serialize(function.Name)}, \"{format.ArgumentsKey}\": ";
        return Expr.Seq(Expr.Lit(head), Arguments(grammar, function, index, constraint), Expr.Lit("}" + format.CallSuffix));
    }

    /// <summary>The function's schema; any object for a non-strict function under "auto"; "{}" for one without parameters.</summary>
    private static GrammarExpr Arguments(GrammarDefinition grammar, ToolFunction function, int index, ToolCallConstraint constraint)
    {
        if (constraint.AfterText && !function.Strict) return grammar.Import(JsonSchemaGrammar.AnyObject(), $"f{index}-");
        if (function.Parameters is not { } schema) return Expr.Lit("{}");
        try
        {
            return grammar.Import(JsonSchemaGrammar.FromSchema(schema.GetRawText()), $"f{index}-");
        }
        catch (GrammarException e)
        {
            throw new ArgumentException($"tools: the parameters of function '{function.Name}' cannot be enforced: {e.Message}", "tools", e);
        }
    }
}
