using System.Diagnostics;
using System.Text;
using Loom.Tokenizers.Unicode;

namespace Loom.Tokenizers;

/// <summary>A tokenizer.json "normalizer": rewrites a piece of input text before pre-tokenization.</summary>
internal abstract class Normalizer
{
    public abstract string Normalize(string text);

    public static Normalizer? From(NormalizerDefinition? definition) => definition switch
    {
        null => null,
        NormalizerDefinition.Sequence s => new SequenceNormalizer(s.Normalizers.Select(n => From(n)!).ToArray()),
        NormalizerDefinition.UnicodeForm u => new UnicodeFormNormalizer(u.Form),
        NormalizerDefinition.Lowercase => new LowercaseNormalizer(),
        NormalizerDefinition.Prepend p => new PrependNormalizer(p.Prefix),
        NormalizerDefinition.Replace r => new ReplaceNormalizer(TextPattern.From(r.Pattern), r.Content),
        NormalizerDefinition.Strip s => new StripNormalizer(s.Left, s.Right),
        NormalizerDefinition.StripAccents => new StripAccentsNormalizer(),
        _ => throw new UnreachableException($"normalizer {definition}"),
    };
}

internal sealed class SequenceNormalizer(Normalizer[] normalizers) : Normalizer
{
    public override string Normalize(string text)
    {
        foreach (var n in normalizers) text = n.Normalize(text);
        return text;
    }
}

internal sealed class UnicodeFormNormalizer(NormalizationForm form) : Normalizer
{
    public override string Normalize(string text) => UnicodeNormalizer.Normalize(text, form);
}

/// <summary>Rust's str::to_lowercase: full mappings (İ → i̇) and a final sigma at the end of a word.</summary>
internal sealed class LowercaseNormalizer : Normalizer
{
    public override string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == 'İ') sb.Append("i\u0307");
            else if (c == 'Σ') sb.Append(IsFinalSigma(text, i) ? 'ς' : 'σ');
            else if (char.IsHighSurrogate(c) && i + 1 < text.Length)
            {
                sb.Append(Rune.ToLowerInvariant(new Rune(c, text[i + 1])).ToString());
                i++;
            }
            else sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    private static bool IsFinalSigma(string text, int i) =>
        i > 0 && char.IsLetter(text[i - 1]) && (i + 1 == text.Length || !char.IsLetter(text[i + 1]));
}

internal sealed class PrependNormalizer(string prefix) : Normalizer
{
    public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
}

internal sealed class ReplaceNormalizer(TextPattern pattern, string content) : Normalizer
{
    public override string Normalize(string text) => pattern.Replace(text, content);
}

internal sealed class StripNormalizer(bool left, bool right) : Normalizer
{
    public override string Normalize(string text)
    {
        int start = 0, end = text.Length;
        if (left) while (start < end && char.IsWhiteSpace(text[start])) start++;
        if (right) while (end > start && char.IsWhiteSpace(text[end - 1])) end--;
        return text.Substring(start, end - start);
    }
}

/// <summary>Removes combining marks (meant to follow NFD, as in BERT-style checkpoints).</summary>
internal sealed class StripAccentsNormalizer : Normalizer
{
    public override string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
            if (Rune.GetUnicodeCategory(rune) != System.Globalization.UnicodeCategory.NonSpacingMark) sb.Append(rune.ToString());
        return sb.ToString();
    }
}
