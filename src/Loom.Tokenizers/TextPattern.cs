using System.Text;
using System.Text.RegularExpressions;

namespace Loom.Tokenizers;

/// <summary>
/// A tokenizers "pattern": {"String": literal} or {"Regex": oniguruma-style pattern}, with where it came from.
/// A regex from a file is attacker-shaped text: `(a+)+$` backtracks exponentially on "aaaa…b". Patterns we know to
/// be linear (literals, GPT-2, Llama-3, Qwen2) compile as before; any other gets a per-match timeout, so one prompt
/// costs at most <see cref="MatchTimeout"/> of a core per match before its request fails with
/// <see cref="TokenizerTimeoutException"/>. Not RegexOptions.NonBacktracking: it is linear, but .NET's engine drops
/// matches for patterns that start with an optional element (dotnet/runtime#130176, " ?, ?"), the very shape of
/// tokenizer patterns, and a silently different tokenization is worse than a clear error.
/// </summary>
internal sealed class TextPattern
{
    /// <summary>
    /// One match call (a word, for a pre-tokenizer) normally takes microseconds; a second is ~10^5 times that, so no
    /// legitimate prompt comes near it, while a catastrophic pattern is cut off before it costs more than a second.
    /// </summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Split patterns of the byte-level BPE families, linear under backtracking (no nested quantifiers).</summary>
    private static readonly HashSet<string> KnownLinear =
        [ByteLevelSplitRegexes.Llama3, ByteLevelSplitRegexes.Qwen2, ByteLevelSplitRegexes.Gpt2, .. ByteLevelSplitRegexes.LlamaCppDefault];

    public Regex Regex { get; }

    /// <summary>"file: $.json.path" of the pattern, for errors.</summary>
    public string Origin { get; }

    private TextPattern(Regex regex, string origin)
    {
        Regex = regex;
        Origin = origin;
    }

    public static TextPattern From(PatternDefinition pattern)
    {
        if (!pattern.IsRegex) return new TextPattern(new Regex(Regex.Escape(pattern.Text), RegexOptions.CultureInvariant), pattern.Origin);
        try
        {
            return new TextPattern(KnownLinear.Contains(pattern.Text)
                ? new Regex(pattern.Text, RegexOptions.Compiled | RegexOptions.CultureInvariant)
                : new Regex(pattern.Text, RegexOptions.Compiled | RegexOptions.CultureInvariant, MatchTimeout), pattern.Origin);
        }
        catch (ArgumentException e) { throw new TokenizerFormatException($"{pattern.Origin}: regex does not compile in .NET: {e.Message}"); }
    }

    public static TextPattern Literal(string literal) =>
        new(new Regex(Regex.Escape(literal), RegexOptions.CultureInvariant), "built-in literal");

    /// <summary>A pattern of our own (a pre-tokenizer's fixed regex), trusted as linear.</summary>
    public static TextPattern BuiltIn(Regex regex, string name) => new(regex, name);

    /// <summary>Replaces every match with the literal content, one match call at a time (each under the timeout).</summary>
    public string Replace(string text, string content)
    {
        StringBuilder? sb = null;
        int copied = 0;
        try
        {
            foreach (var m in Regex.EnumerateMatches(text))
            {
                EncodeCancellation.ThrowIfRequested();
                (sb ??= new StringBuilder(text.Length)).Append(text, copied, m.Index - copied).Append(content);
                copied = m.Index + m.Length;
            }
        }
        catch (RegexMatchTimeoutException e) { throw TimedOut(e); }
        return sb is null ? text : sb.Append(text, copied, text.Length - copied).ToString();
    }

    public TokenizerTimeoutException TimedOut(RegexMatchTimeoutException e) =>
        new($"{Origin}: the tokenizer's regex took longer than {e.MatchTimeout.TotalSeconds:0.#} s on one match of this " +
            $"input (catastrophic backtracking in pattern \"{Abbreviated(e.Pattern)}\"); the text was not tokenized.", e);

    private static string Abbreviated(string pattern) => pattern.Length <= 80 ? pattern : pattern[..80] + "…";
}
