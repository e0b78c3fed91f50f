using Loom.Grammar.Vocab;
using Loom.Tokenizers;

namespace Loom.Engine.StructuredOutput;

/// <summary>A tokenizer's vocabulary as the bytes each id contributes, for grammar masks.</summary>
public static class TokenizerVocabulary
{
    /// <param name="eosTokenIds">The ids that end a sequence for this model (allowed exactly when a grammar can end).</param>
    public static TokenVocabulary From(ITokenizer tokenizer, IEnumerable<int> eosTokenIds)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var strings = new string?[tokenizer.VocabSize];
        for (int id = 0; id < strings.Length; id++) strings[id] = tokenizer.IdToToken(id);
        var spelling = TokenByteDecoding.GuessSpelling(strings);
        return new TokenVocabulary(TokenByteDecoding.Decode(strings, spelling, tokenizer.IsSpecial), eosTokenIds);
    }
}
