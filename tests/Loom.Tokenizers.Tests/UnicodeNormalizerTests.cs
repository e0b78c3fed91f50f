using System.Text;
using Loom.Tokenizers.Unicode;

namespace Loom.Tokenizers.Tests;

/// <summary>Expected values from the Unicode standard's normalization examples (NormalizationTest.txt style).</summary>
public class UnicodeNormalizerTests
{
    [Theory]
    [InlineData("e\u0301", "\u00E9")]                        // e + combining acute composes
    [InlineData("\u1E0B\u0323", "\u1E0D\u0307")]             // dot above / dot below reorder, then compose below
    [InlineData("\u1100\u1161\u11A8", "\uAC01")]             // Hangul L V T
    [InlineData("\u212B", "\u00C5")]                         // Angstrom sign is a singleton decomposition
    [InlineData("\u0958", "\u0915\u093C")]                   // composition exclusion stays decomposed
    [InlineData("ascii only", "ascii only")]
    public void Nfc(string input, string expected) => Assert.Equal(expected, UnicodeNormalizer.Normalize(input, NormalizationForm.FormC));

    [Theory]
    [InlineData("\u00E9", "e\u0301")]
    [InlineData("\uAC01", "\u1100\u1161\u11A8")]
    public void Nfd(string input, string expected) => Assert.Equal(expected, UnicodeNormalizer.Normalize(input, NormalizationForm.FormD));

    [Theory]
    [InlineData("\uFB01", "fi")]                              // ligature
    [InlineData("\uFF46\uFF55\uFF4C\uFF4C", "full")]          // fullwidth
    [InlineData("\u00A0x\u2009", " x ")]                      // no-break and thin space
    [InlineData("\u1E9B\u0323", "\u1E69")]                    // long s with dot above + dot below
    public void Nfkc(string input, string expected) => Assert.Equal(expected, UnicodeNormalizer.Normalize(input, NormalizationForm.FormKC));

    [Fact]
    public void NfcIsIdempotentOnMixedScripts()
    {
        string text = "Ünïcödé façade 한국어 日本語 Ελληνικά e\u0301\u0323";
        string once = UnicodeNormalizer.Normalize(text, NormalizationForm.FormC);
        Assert.Equal(once, UnicodeNormalizer.Normalize(once, NormalizationForm.FormC));
        Assert.Equal(once, UnicodeNormalizer.Normalize(UnicodeNormalizer.Normalize(text, NormalizationForm.FormD), NormalizationForm.FormC));
    }
}
