using Loom.Tokenizers;

namespace Loom.Engine.Input;

/// <summary>Bounds on prompt text that follow from the vocabulary alone.</summary>
public static class PromptBounds
{
    /// <summary>Generous floor on characters per token, for tokenizers whose vocabulary strings understate what a token covers.</summary>
    public const int MinCharsPerToken = 16;

    /// <summary>maxModelLen x the longest vocabulary entry (at least <see cref="MinCharsPerToken"/>), saturating at int.MaxValue.</summary>
    public static int MaxChars(ITokenizer tokenizer, int maxModelLen)
    {
        int longest = MinCharsPerToken;
        for (int id = 0; id < tokenizer.VocabSize; id++)
            if (tokenizer.IdToToken(id) is { } token && token.Length > longest) longest = token.Length;
        return (int)Math.Min(int.MaxValue, (long)maxModelLen * longest);
    }
}
