using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Loom.Tokenizers;

/// <summary>A tokenizer.json "pre_tokenizer": splits a normalized piece into the words the model sees.</summary>
internal abstract class PreTokenizer
{
    public abstract void Split(in TextPiece piece, List<TextPiece> output);

    public static PreTokenizer? From(PreTokenizerDefinition? definition) => definition switch
    {
        null => null,
        PreTokenizerDefinition.Sequence s => new SequencePreTokenizer(s.Stages.Select(p => From(p)!).ToArray()),
        PreTokenizerDefinition.Split s => new SplitPreTokenizer(TextPattern.From(s.Pattern), s.Behavior, s.Invert),
        PreTokenizerDefinition.ByteLevel b => new ByteLevelPreTokenizer(b.AddPrefixSpace, b.UseRegex),
        PreTokenizerDefinition.Metaspace m => new MetaspacePreTokenizer(m.Replacement, m.Scheme, m.SplitAtReplacement),
        PreTokenizerDefinition.Digits d => new DigitsPreTokenizer(d.IndividualDigits),
        PreTokenizerDefinition.Whitespace => new SplitPreTokenizer(TextPattern.BuiltIn(new Regex(@"\w+|[^\w\s]+", RegexOptions.Compiled), "Whitespace"), SplitBehavior.Removed, invert: true),
        PreTokenizerDefinition.WhitespaceSplit => new SplitPreTokenizer(TextPattern.BuiltIn(new Regex(@"\s+", RegexOptions.Compiled), "WhitespaceSplit"), SplitBehavior.Removed, invert: false),
        _ => throw new UnreachableException($"pre_tokenizer {definition}"),
    };
}

internal sealed class SequencePreTokenizer(PreTokenizer[] stages) : PreTokenizer
{
    public IReadOnlyList<PreTokenizer> Stages => stages;

    public override void Split(in TextPiece piece, List<TextPiece> output)
    {
        var current = new List<TextPiece> { piece };
        var next = new List<TextPiece>();
        foreach (var stage in stages)
        {
            next.Clear();
            foreach (var p in current) stage.Split(p, next);
            (current, next) = (next, current);
        }
        output.AddRange(current);
    }
}

internal sealed class SplitPreTokenizer(TextPattern pattern, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public override void Split(in TextPiece piece, List<TextPiece> output)
    {
        try { PieceSplitter.SplitByRegex(piece, pattern.Regex, behavior, invert, output); }
        catch (RegexMatchTimeoutException e) { throw pattern.TimedOut(e); }
    }
}

internal sealed class DigitsPreTokenizer(bool individualDigits) : PreTokenizer
{
    public override void Split(in TextPiece piece, List<TextPiece> output) =>
        PieceSplitter.SplitByCodePoint(piece, IsNumeric, individualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous, output);

    /// <summary>Rust's char::is_numeric: categories Nd, Nl and No.</summary>
    private static bool IsNumeric(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.DecimalDigitNumber
        or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
}

/// <summary>
/// GPT-2 byte-level pre-tokenization: optional leading space, optional GPT-2 regex split, then every UTF-8 byte is
/// written as one alphabet character. When it is the last stage the tokenizer maps bytes itself on the way into the
/// model (MapBytes = false), which saves a string per word.
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    public static readonly Regex Gpt2Regex = new(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
        RegexOptions.Compiled | RegexOptions.CultureInvariant);

    public bool MapBytes { get; set; } = true;

    public override void Split(in TextPiece piece, List<TextPiece> output)
    {
        var text = piece;
        if (addPrefixSpace && (piece.Length == 0 || piece.Span[0] != ' '))
            text = TextPiece.Of(" " + piece.AsString(), piece.AtOriginalStart);
        int first = output.Count;
        if (useRegex) PieceSplitter.SplitByRegex(text, Gpt2Regex, SplitBehavior.Isolated, invert: false, output);
        else if (text.Length > 0) output.Add(text);
        if (!MapBytes) return;
        for (int i = first; i < output.Count; i++) output[i] = TextPiece.Of(ToAlphabet(output[i].Span), output[i].AtOriginalStart);
    }

    public static string ToAlphabet(ReadOnlySpan<char> text)
    {
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteLevelAlphabet.ByteToChar[bytes[i]];
        return new string(chars);
    }
}

/// <summary>When Metaspace prepends its replacement: before every text, only at the very start of the input, or never.</summary>
public enum PrependScheme { First, Always, Never }

/// <summary>SentencePiece-style: spaces become the replacement (▁), one is prepended per the scheme, optional split.</summary>
internal sealed class MetaspacePreTokenizer(char replacement, PrependScheme scheme, bool split) : PreTokenizer
{
    public override void Split(in TextPiece piece, List<TextPiece> output)
    {
        string text = piece.Span.ToString().Replace(' ', replacement);
        bool prepend = scheme switch
        {
            PrependScheme.Always => true,
            PrependScheme.First => piece.AtOriginalStart,
            _ => false,
        };
        if (prepend && (text.Length == 0 || text[0] != replacement)) text = replacement + text;
        var replaced = TextPiece.Of(text, piece.AtOriginalStart);
        if (split) PieceSplitter.SplitByCodePoint(replaced, r => r.Value == replacement, SplitBehavior.MergedWithNext, output);
        else if (text.Length > 0) output.Add(replaced);
    }
}
