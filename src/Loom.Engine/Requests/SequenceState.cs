using Loom.Core.Requests;
using Loom.Engine.Output;
using Loom.Core.Sampling;

namespace Loom.Engine.Requests;

/// <summary>Engine-side state of one completion (one of the n samples of a request): what it emitted (the runner samples).</summary>
internal sealed class SequenceState(RequestState parent, Request request, SequenceOutputTracker tracker)
{
    public RequestState Parent { get; } = parent;
    /// <summary>The scheduler's view (tokens, computed count, status).</summary>
    public Request Request { get; } = request;
    public SequenceOutputTracker Tracker { get; } = tracker;
    public int Index => Request.SampleIndex;
    public bool Finished => Tracker.IsFinished;
}

/// <summary>Engine-side state of one submitted request and its n completions.</summary>
internal sealed class RequestState(EngineRequest request)
{
    public EngineRequest Request { get; } = request;
    public SequenceState[] Sequences { get; set; } = [];
    /// <summary>Deltas gathered during the current step, flushed into one <see cref="RequestOutput"/>.</summary>
    public List<CompletionDelta> PendingDeltas { get; } = [];
    public bool Finished => Sequences.All(s => s.Finished);

    /// <summary>
    /// Log-probabilities of the prompt tokens when prompt_logprobs was asked for (entry 0, the first token, is null:
    /// nothing precedes it); null otherwise. Complete once it holds one entry per prompt token.
    /// </summary>
    public List<TokenLogprob?>? PromptLogprobs { get; } = request.Params.PromptLogprobs is null ? null : [null];
    /// <summary>Whether <see cref="PromptLogprobs"/> went out in a <see cref="RequestOutput"/>.</summary>
    public bool PromptLogprobsSent { get; set; }

    /// <summary>Prompt tokens served from the prefix cache (or shared with a sibling), as seen by the first sample.</summary>
    public int CachedPromptTokens => Sequences[0].Request.NumCachedTokens ?? 0;
}
