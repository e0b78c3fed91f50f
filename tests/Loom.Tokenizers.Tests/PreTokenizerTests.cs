using System.Text.RegularExpressions;

namespace Loom.Tokenizers.Tests;

/// <summary>Split semantics that the fixtures do not pin down: code points outside the BMP, and each split behavior.</summary>
public class PreTokenizerTests
{
    private static readonly Regex Llama3 = new(
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+");

    private static string[] Split(string text, Regex regex, SplitBehavior behavior = SplitBehavior.Isolated, bool invert = false)
    {
        var output = new List<TextPiece>();
        PieceSplitter.SplitByRegex(TextPiece.Of(text, true), regex, behavior, invert, output);
        return output.Select(p => p.AsString()).ToArray();
    }

    [Fact]
    public void SupplementaryLettersAndDigitsCountAsCodePoints()
    {
        // Oniguruma: 𝐀 (U+1D400) is a letter, 𝟏 (U+1D7CF) a digit; \p{N}{1,3} takes three code points, not surrogates.
        Assert.Equal(["a𝐀b", " ", "𝟏𝟐𝟑", "𝟒", " 😀👍🏽"], Split("a𝐀b 𝟏𝟐𝟑𝟒 😀👍🏽", Llama3));
        Assert.Equal(["𠀀𠀁", "'s"], Split("𠀀𠀁's", Llama3));   // CJK Extension B letters
    }

    [Fact]
    public void SplitBehaviorsMatchTokenizers()
    {
        var dash = new Regex("-");
        Assert.Equal(["a", "-", "b", "-", "-", "c"], Split("a-b--c", dash, SplitBehavior.Isolated));
        Assert.Equal(["a", "b", "c"], Split("a-b--c", dash, SplitBehavior.Removed));
        Assert.Equal(["a-", "b-", "-", "c"], Split("a-b--c", dash, SplitBehavior.MergedWithPrevious));
        Assert.Equal(["a", "-b", "-", "-c"], Split("a-b--c", dash, SplitBehavior.MergedWithNext));
        Assert.Equal(["a", "-", "b", "--", "c"], Split("a-b--c", dash, SplitBehavior.Contiguous));
        Assert.Equal(["-", "-", "-"], Split("a-b--c", dash, SplitBehavior.Removed, invert: true));
    }
}
