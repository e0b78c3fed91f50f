using Loom.Grammar.Compile;
using Loom.Grammar.Matching;
using Loom.Grammar.Vocab;

namespace Loom.Engine.StructuredOutput;

/// <summary>
/// The expensive half of compiling a grammar: its per-state token masks over a vocabulary, built on the thread pool
/// after the request was accepted. <see cref="GrammarCompilationCache"/> calls it; a front end may supply another
/// (tests do, to make a compilation fail late and prove that only its own request ends).
/// </summary>
public interface ITokenMaskCompiler
{
    /// <exception cref="Loom.Grammar.GrammarException">The masks cannot be built (too many states, ...).</exception>
    TokenGrammar Compile(CompiledGrammar grammar, TokenVocabulary vocabulary);
}

/// <summary>Loom's own mask precomputation (<see cref="TokenGrammar"/>).</summary>
public sealed class TokenMaskCompiler : ITokenMaskCompiler
{
    public static TokenMaskCompiler Instance { get; } = new();

    private TokenMaskCompiler() { }

    public TokenGrammar Compile(CompiledGrammar grammar, TokenVocabulary vocabulary) => new(grammar, vocabulary);
}
