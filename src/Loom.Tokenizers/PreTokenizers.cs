using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Loom.Tokenizers;

/// <summary>A tokenizer.json "pre_tokenizer": splits a normalized piece into the words the model sees.</summary>
internal abstract class PreTokenizer
{
    public abstract void Split(in TextPiece piece, List<TextPiece> output);

    public static PreTokenizer? FromJson(TokenizerJson json)
    {
        if (json.IsNull) return null;
        return json.Type switch
        {
            "Sequence" => new SequencePreTokenizer(json.Required("pretokenizers").Items().Select(p => FromJson(p)!).ToArray()),
            "Split" => new SplitPreTokenizer(TextPattern.FromJson(json.Required("pattern")),
                PieceSplitter.ParseBehavior(json.Required("behavior")), json.Child("invert").Bool(false)),
            "ByteLevel" => new ByteLevelPreTokenizer(json.Child("add_prefix_space").Bool(true), json.Child("use_regex").Bool(true)),
            "Metaspace" => MetaspacePreTokenizer.Parse(json),
            "Digits" => new DigitsPreTokenizer(json.Child("individual_digits").Bool(false)),
            "Whitespace" => new SplitPreTokenizer(TextPattern.BuiltIn(new Regex(@"\w+|[^\w\s]+", RegexOptions.Compiled), "Whitespace"), SplitBehavior.Removed, invert: true),
            "WhitespaceSplit" => new SplitPreTokenizer(TextPattern.BuiltIn(new Regex(@"\s+", RegexOptions.Compiled), "WhitespaceSplit"), SplitBehavior.Removed, invert: false),
            var other => throw json.Error($"pre_tokenizer type \"{other}\" is not supported"),
        };
    }
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

internal enum PrependScheme { First, Always, Never }

/// <summary>SentencePiece-style: spaces become the replacement (▁), one is prepended per the scheme, optional split.</summary>
internal sealed class MetaspacePreTokenizer(char replacement, PrependScheme scheme, bool split) : PreTokenizer
{
    public static MetaspacePreTokenizer Parse(TokenizerJson json) =>
        new(ParseReplacement(json), ParseScheme(json), json.Child("split").Bool(true));

    public static char ParseReplacement(TokenizerJson json)
    {
        var r = json.Required("replacement");
        var s = r.String();
        if (s.Length != 1) throw r.Error("replacement must be a single character");
        return s[0];
    }

    public static PrependScheme ParseScheme(TokenizerJson json)
    {
        var scheme = json.Child("prepend_scheme");
        if (scheme.IsNull) return json.Child("add_prefix_space").Bool(true) ? PrependScheme.Always : PrependScheme.Never;
        return scheme.String() switch
        {
            "first" => PrependScheme.First,
            "always" => PrependScheme.Always,
            "never" => PrependScheme.Never,
            var other => throw scheme.Error($"unknown prepend_scheme \"{other}\""),
        };
    }

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
