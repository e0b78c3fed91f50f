namespace Loom.Engine.Sampling;

/// <summary>
/// vLLM's min_tokens: until that many tokens are out, the ids that would stop the sequence (EOS unless ignore_eos, and
/// stop_token_ids) get -inf, so the scheduler's stop check cannot fire early.
/// </summary>
internal sealed class MinTokensProcessor(int minTokens, int[] maskedIds) : ILogitsProcessor
{
    public void Apply(Span<float> logits, int numOutputTokens)
    {
        if (numOutputTokens >= minTokens) return;
        foreach (int id in maskedIds)
            if ((uint)id < (uint)logits.Length) logits[id] = float.NegativeInfinity;
    }

    public void Commit(int tokenId) { }

    public void Uncommit(int tokenId) { }

    /// <summary>While masking, a row with nothing else left allows only the masked stop ids: the first in the vocabulary; else none.</summary>
    public int? FallbackToken(int numOutputTokens, int vocabSize)
    {
        if (numOutputTokens >= minTokens) return null;
        foreach (int id in maskedIds)
            if ((uint)id < (uint)vocabSize) return id;
        return null;
    }
}
