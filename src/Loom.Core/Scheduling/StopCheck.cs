using Loom.Core.Requests;
using Loom.Core.Sampling;

namespace Loom.Core.Scheduling;

/// <summary>
/// The scheduler's verdict after one output token, vLLM's <c>check_stop</c>: length first (max_tokens, or prompt +
/// output reaching max_model_len), then, once min_tokens are out, EOS (unless ignore_eos), then a stop token id (which
/// becomes the stop reason). Stop strings are text, so the output tracker finds them and asks the scheduler to finish.
/// </summary>
/// <param name="Status">Running (go on), FinishedLength or FinishedStopped.</param>
/// <param name="StopTokenId">The stop_token_ids entry that ended the request; null otherwise (EOS has none).</param>
public readonly record struct StopCheck(RequestStatus Status, int? StopTokenId = null)
{
    public static StopCheck Continue => new(RequestStatus.Running);

    public bool Stopped => Status.IsFinished();

    /// <param name="numTokens">Prompt plus output tokens, <paramref name="tokenId"/> included.</param>
    /// <param name="numOutputTokens">Output tokens, <paramref name="tokenId"/> included.</param>
    public static StopCheck Evaluate(SamplingParams samplingParams, IReadOnlyList<int> eosTokenIds, int numTokens,
        int numOutputTokens, int tokenId, int maxModelLen)
    {
        if (numOutputTokens >= samplingParams.MaxTokens || numTokens >= maxModelLen) return new(RequestStatus.FinishedLength);
        if (numOutputTokens < samplingParams.MinTokens) return Continue;
        if (!samplingParams.IgnoreEos && Contains(eosTokenIds, tokenId)) return new(RequestStatus.FinishedStopped);
        if (Contains(samplingParams.StopTokenIds, tokenId)) return new(RequestStatus.FinishedStopped, tokenId);
        return Continue;
    }

    // A loop, not LINQ: a handful of ids, checked once per token.
    private static bool Contains(IReadOnlyList<int> ids, int tokenId)
    {
        for (int i = 0; i < ids.Count; i++)
            if (ids[i] == tokenId) return true;
        return false;
    }
}
