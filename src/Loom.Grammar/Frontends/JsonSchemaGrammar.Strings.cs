using System.Text.Json;
using Loom.Grammar.Ast;

namespace Loom.Grammar.Frontends;

public sealed partial class JsonSchemaGrammar
{
    private GrammarExpr StringExpr(JsonElement schema, string path)
    {
        int? min = IntKeyword(schema, "minLength", path), max = IntKeyword(schema, "maxLength", path);
        bool hasPattern = schema.TryGetProperty("pattern", out var pattern);
        bool hasFormat = schema.TryGetProperty("format", out var format);
        if ((hasPattern || hasFormat) && (min != null || max != null))
            throw new GrammarException($"{path}: minLength/maxLength together with {(hasPattern ? "pattern" : "format")} is not supported",
                min != null ? "minLength" : "maxLength");
        if (hasPattern && hasFormat) throw new GrammarException($"{path}: pattern together with format is not supported", "format");
        GrammarExpr body;
        if (hasPattern) body = RegexParser.Parse(pattern.GetString() ?? "", InJsonString, anchoredByDefault: false);
        else if (hasFormat) body = FormatExpr(format.GetString() ?? "", path);
        else if (min == null && max == null) return Expr.Ref("string");
        else body = Expr.Repeat(JsonStringChar, min ?? 0, max ?? RepeatExpr.Unbounded);
        return Expr.Seq(Expr.Lit("\""), body, Expr.Lit("\""));
    }

    private static GrammarExpr FormatExpr(string format, string path) => format switch
    {
        "date" => Date(),
        "time" => Time(),
        "date-time" => Expr.Seq(Date(), Expr.Lit("T"), Time()),
        "uuid" => Regex("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        // A common, sound subset of addresses; kept loose enough that its DFA stays small (bounded counts multiply states).
        "email" => Regex("[A-Za-z0-9_+-]+(\\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9]+(\\.[A-Za-z0-9]+)*\\.[A-Za-z][A-Za-z]+"),
        _ => throw new GrammarException($"{path}: the format '{format}' cannot be enforced by Loom", "format"),
    };

    /// <summary>Real calendar dates except 29 February (leap years are not worth a grammar).</summary>
    private static GrammarExpr Date() => Regex(
        "[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))");

    private static GrammarExpr Time() => Regex("([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])");

    private static GrammarExpr Regex(string pattern) => RegexParser.Parse(pattern, Expr.Chars, anchoredByDefault: true);

    private static int? IntKeyword(JsonElement schema, string keyword, string path)
    {
        if (!schema.TryGetProperty(keyword, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n) || n < 0)
            throw new GrammarException($"{path}: '{keyword}' must be a non-negative integer", keyword);
        if (n > 10_000) throw new GrammarException($"{path}: '{keyword}' above 10000 is not supported", keyword);
        return n;
    }
}
