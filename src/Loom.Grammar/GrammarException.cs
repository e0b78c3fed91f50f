namespace Loom.Grammar;

/// <summary>
/// A grammar, schema, regex or GBNF text that Loom cannot compile or cannot enforce. <see cref="Keyword"/> names the
/// offending schema keyword or construct where there is one, so that an API layer can answer 400 naming it.
/// </summary>
public sealed class GrammarException(string message, string? keyword = null) : Exception(message)
{
    public string? Keyword { get; } = keyword;
}
