namespace Loom.Engine.Sampling;

/// <summary>
/// One per-sequence edit of a logits row before the sampler scores it (min_tokens, penalties, logit_bias, and later a
/// grammar mask). The sampler applies its processors in order; scoring is pure, so <see cref="Apply"/> must not change
/// state: only <see cref="Commit"/>, called with the token actually taken, advances it, and <see cref="Uncommit"/> takes
/// back a draft model's tentative commit (speculative decoding drafts a few tokens ahead through the same processors).
/// </summary>
public interface ILogitsProcessor
{
    /// <param name="logits">[vocab] the sequence's row, edited in place.</param>
    /// <param name="numOutputTokens">Tokens the sequence has committed so far.</param>
    void Apply(Span<float> logits, int numOutputTokens);

    /// <summary>The sequence took <paramref name="tokenId"/>: advance whatever depends on its output.</summary>
    void Commit(int tokenId);

    /// <summary>
    /// Undoes the latest <see cref="Commit"/>, of <paramref name="tokenId"/>: a drafted token that <see cref="Apply"/>
    /// allowed, taken back once the draft model has proposed its run (undone last first).
    /// </summary>
    void Uncommit(int tokenId);
}
