using System.Globalization;
using System.Text;

namespace Loom.Tokenizers;

/// <summary>
/// A one-char-per-code-point stand-in for text holding surrogate pairs: each supplementary code point becomes a BMP
/// character of the same Unicode category, so category classes (\p{L}, \p{N}, \s) and counted repeats behave as
/// they do on code points. Starts[i] is the UTF-16 offset in the original of stand-in char i (Starts[^1] = length).
/// </summary>
internal static class CodePointShadow
{
    public static (string Shadow, int[] Starts) Build(ReadOnlySpan<char> text)
    {
        var shadow = new StringBuilder(text.Length);
        var starts = new List<int>(text.Length + 1);
        int i = 0;
        while (i < text.Length)
        {
            starts.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                shadow.Append(StandIn(Rune.GetUnicodeCategory(new Rune(text[i], text[i + 1]))));
                i += 2;
            }
            else shadow.Append(text[i++]);
        }
        starts.Add(text.Length);
        return (shadow.ToString(), starts.ToArray());
    }

    /// <summary>Non-ASCII representatives, so that no stand-in can take part in an ASCII literal such as 's.</summary>
    private static char StandIn(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => 'Ж',
        UnicodeCategory.LowercaseLetter => 'ж',
        UnicodeCategory.TitlecaseLetter => 'ǅ',
        UnicodeCategory.ModifierLetter => 'ʰ',
        UnicodeCategory.OtherLetter => 'א',
        UnicodeCategory.DecimalDigitNumber => '٠',
        UnicodeCategory.LetterNumber => 'Ⅰ',
        UnicodeCategory.OtherNumber => '²',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.MathSymbol => '±',
        UnicodeCategory.CurrencySymbol => '¢',
        UnicodeCategory.ModifierSymbol => '˂',
        UnicodeCategory.OtherPunctuation => '¡',
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.PrivateUse => '\uE000',
        UnicodeCategory.OtherNotAssigned => '\u0378',
        _ => '¦',   // OtherSymbol (emoji) and the rest
    };
}
