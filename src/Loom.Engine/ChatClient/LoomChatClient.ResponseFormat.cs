using Loom.Engine.StructuredOutput;
using Loom.Grammar;
using Microsoft.Extensions.AI;

namespace Loom.Engine.ChatClient;

/// <summary>
/// ChatOptions.ResponseFormat onto the <see cref="StructuredOutputSpec"/> the server's response_format maps to:
/// <see cref="ChatResponseFormat.Json"/> is any JSON object, <see cref="ChatResponseFormat.ForJsonSchema(System.Text.Json.JsonElement, string?, string?)"/>
/// the schema's JSON; text is unconstrained. The schema is enforced whether or not M.E.AI's strict flag
/// (ChatOptions.AdditionalProperties["strict"]) is set, as the server enforces response_format whatever its "strict".
/// </summary>
public sealed partial class LoomChatClient
{
    private const string ResponseFormatParam = "response_format";

    /// <summary>The grammars of this client's vocabulary; EOS is generation_config's, else the tokenizer's.</summary>
    private GrammarCompilationCache Grammars() => LazyInitializer.EnsureInitialized(ref _grammars, () =>
    {
        IReadOnlyList<int> eos = _options.GenerationConfig?.EosTokenIds is { Count: > 0 } ids ? ids
            : _tokenizer.EosTokenId is { } id ? [id] : [];
        return new GrammarCompilationCache(TokenizerVocabulary.From(_tokenizer, eos));
    });

    /// <exception cref="ArgumentException">The schema cannot be enforced (param "response_format").</exception>
    private GrammarCompilation? CompileResponseFormat(ChatResponseFormat? format)
    {
        var spec = format switch
        {
            null or ChatResponseFormatText => null,
            ChatResponseFormatJson { Schema: { } schema } => new StructuredOutputSpec(StructuredOutputKind.JsonSchema, ResponseFormatParam, schema.GetRawText()),
            ChatResponseFormatJson => new StructuredOutputSpec(StructuredOutputKind.JsonObject, ResponseFormatParam),
            _ => throw new ArgumentException($"ResponseFormat {format.GetType().Name} is not supported.", ResponseFormatParam),
        };
        if (spec is null) return null;
        try
        {
            return Grammars().GetOrCompile(spec.Key, spec.Build);
        }
        catch (GrammarException e)
        {
            throw new ArgumentException($"{ResponseFormatParam}: {e.Message}", ResponseFormatParam, e);
        }
    }
}
