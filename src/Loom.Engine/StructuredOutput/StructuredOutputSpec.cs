using Loom.Grammar.Ast;
using Loom.Grammar.Frontends;

namespace Loom.Engine.StructuredOutput;

/// <summary>What a structured-output request asks the grammar to accept.</summary>
public enum StructuredOutputKind
{
    JsonSchema,
    JsonObject,
    Regex,
    Choice,
    Grammar,
}

/// <summary>
/// One request's output constraint as data, whichever API spelling it came in (OpenAI's response_format, vLLM's
/// structured_outputs, the older guided_* fields): what kind, its source text, and how JSON is spaced.
/// <see cref="Param"/> names the request field, so that a compile error can say which one was wrong.
/// </summary>
/// <param name="Source">The JSON schema, regex or GBNF text; unused for json_object and choice.</param>
public sealed record StructuredOutputSpec(StructuredOutputKind Kind, string Param, string? Source = null,
    IReadOnlyList<string>? Choices = null, JsonGrammarOptions? JsonOptions = null)
{
    /// <summary>The cache key: equal specs compile once.</summary>
    public string Key
    {
        get
        {
            var o = JsonOptions ?? JsonGrammarOptions.Default;
            string body = Kind == StructuredOutputKind.Choice ? string.Join('\u0000', Choices ?? []) : Source ?? "";
            return $"{Kind}:{o.AnyWhitespace}:{o.DisableAdditionalProperties}:{o.WhitespacePattern}:{body}";
        }
    }

    /// <exception cref="Loom.Grammar.GrammarException">The source is not a grammar Loom can enforce.</exception>
    public GrammarDefinition Build() => Kind switch
    {
        StructuredOutputKind.JsonSchema => JsonSchemaGrammar.FromSchema(Source ?? "{}", JsonOptions),
        StructuredOutputKind.JsonObject => JsonSchemaGrammar.AnyObject(JsonOptions),
        StructuredOutputKind.Regex => GrammarDefinition.FromExpr(RegexParser.ParseAnchored(Source ?? "")),
        StructuredOutputKind.Choice => ChoiceGrammar.FromChoices(Choices ?? []),
        StructuredOutputKind.Grammar => GbnfParser.Parse(Source ?? ""),
        _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown structured output kind"),
    };
}
