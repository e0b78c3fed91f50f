using Loom.Grammar.Compile;
using Loom.Grammar.Vocab;

namespace Loom.Grammar.Matching;

/// <summary>
/// A compiled grammar bound to one vocabulary, with its per-state token masks precomputed: built once per distinct
/// grammar (off the engine thread), immutable, shared by every sequence that uses it.
/// </summary>
public sealed class TokenGrammar
{
    /// <param name="threads">Threads for the per-state mask precomputation; 0: all cores.</param>
    public TokenGrammar(CompiledGrammar grammar, TokenVocabulary vocabulary, int threads = 0)
    {
        Grammar = grammar ?? throw new ArgumentNullException(nameof(grammar));
        Vocabulary = vocabulary ?? throw new ArgumentNullException(nameof(vocabulary));
        Masks = new TokenMaskTable(grammar, vocabulary, threads: threads);
    }

    public CompiledGrammar Grammar { get; }
    public TokenVocabulary Vocabulary { get; }
    internal TokenMaskTable Masks { get; }

    /// <summary>Uncertain tokens summed over states: the work left for run time (a compile-quality figure).</summary>
    public long UncertainTokenCount => Masks.TotalUncertain;

    public GrammarMatcher CreateMatcher() => new(this);
}
