namespace Loom.Grammar.Frontends;

/// <summary>How JSON is written around the values a schema constrains (vLLM's structured_outputs knobs).</summary>
/// <param name="AnyWhitespace">Allow whitespace between tokens (llama.cpp's bounded form); false: compact JSON only.</param>
/// <param name="DisableAdditionalProperties">Treat an absent additionalProperties as false rather than true.</param>
/// <param name="WhitespacePattern">A regex for the whitespace between tokens, replacing the default.</param>
public sealed record JsonGrammarOptions(bool AnyWhitespace = true, bool DisableAdditionalProperties = false, string? WhitespacePattern = null)
{
    public static JsonGrammarOptions Default { get; } = new();
}
