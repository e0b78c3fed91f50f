namespace Loom.Engine.Speculative;

/// <summary>
/// Prompt lookup (vLLM's NgramProposer): the last n tokens of a sequence, for n from prompt_lookup_max down to
/// prompt_lookup_min, are looked for earlier in its prompt + output; the tokens that followed the most recent match of
/// the longest n that matches are the drafts. Free when the output copies spans of its input (editing, summarising,
/// refactoring code). A match close to the end (a loop) is continued with its own period, as repeated lookups would:
/// the token D positions back, where D is the match's distance from the suffix, is predicted again. Reads spans only:
/// nothing is allocated per call.
/// </summary>
public sealed class NgramProposer
{
    private readonly int _minN, _maxN;

    public NgramProposer(int promptLookupMin, int promptLookupMax)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(promptLookupMin, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(promptLookupMax, promptLookupMin);
        _minN = promptLookupMin;
        _maxN = promptLookupMax;
    }

    public NgramProposer(SpeculativeConfig config) : this(config.PromptLookupMin, config.PromptLookupMax) { }

    /// <summary>
    /// Writes up to <paramref name="drafts"/>.Length proposed next tokens of <paramref name="tokens"/> (prompt then
    /// output so far) into <paramref name="drafts"/>; returns how many (0 when no suffix n-gram recurs).
    /// </summary>
    public int Propose(ReadOnlySpan<int> tokens, Span<int> drafts)
    {
        if (drafts.IsEmpty) return 0;
        for (int n = Math.Min(_maxN, tokens.Length - 1); n >= _minN; n--)
        {
            var pattern = tokens[^n..];
            // A match must start early enough to have at least one token after it: search all but the last token.
            int start = tokens[..^1].LastIndexOf(pattern);
            if (start < 0) continue;
            int distance = tokens.Length - n - start; // >= 1: how far back the match sits
            for (int j = 0; j < drafts.Length; j++)
                drafts[j] = j < distance ? tokens[start + n + j] : drafts[j - distance];
            return drafts.Length;
        }
        return 0;
    }
}
