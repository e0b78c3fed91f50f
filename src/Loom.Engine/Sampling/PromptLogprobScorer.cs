using Loom.Core.Sampling;
using Loom.Core.Scheduling;

namespace Loom.Engine.Sampling;

/// <summary>
/// vLLM's prompt_logprobs: the logits row of prompt position p scores prompt token p + 1. Each step it plans which
/// positions of the scheduled prompt chunks still need a row (only the first sample of a request scores its prompt, and a
/// position scored before a preemption is not scored again), then turns those rows into <see cref="TokenLogprob"/>s
/// for the runner's output.
/// </summary>
internal sealed class PromptLogprobScorer
{
    private readonly List<(RunnerRequestState Request, int FirstPosition, int Count)> _planned = [];
    private readonly SamplerScratch _scratch = new();

    /// <summary>Rows planned for the current step.</summary>
    public int NumRows { get; private set; }

    public void Clear()
    {
        _planned.Clear();
        NumRows = 0;
    }

    /// <summary>
    /// Plans the rows of one scheduled chunk and returns the first position and the count (0 when none): positions in
    /// the chunk whose next token is a prompt token not scored yet.
    /// </summary>
    public (int FirstPosition, int Count) Plan(ScheduledRequest scheduled, RunnerRequestState request)
    {
        if (request.PromptLogprobs is null) return (0, 0);
        int from = Math.Max(scheduled.StartPosition, request.NumPromptPositionsScored);
        int to = Math.Min(scheduled.ContextLength, request.NumPromptTokens - 1);
        if (to <= from) return (0, 0);
        _planned.Add((request, from, to - from));
        NumRows += to - from;
        return (from, to - from);
    }

    /// <summary>Scores the planned rows: <paramref name="logits"/> holds them in plan order, [NumRows, vocab].</summary>
    public Dictionary<string, IReadOnlyList<TokenLogprob>> Score(ReadOnlySpan<float> logits, int vocabSize)
    {
        _scratch.EnsureCapacity(vocabSize);
        var scored = new Dictionary<string, IReadOnlyList<TokenLogprob>>(_planned.Count);
        int row = 0;
        foreach (var (request, first, count) in _planned)
        {
            var prompt = request.Tokens;
            var entries = new TokenLogprob[count];
            for (int k = 0; k < count; k++, row++)
                entries[k] = LogprobCalculator.Compute(logits.Slice(row * vocabSize, vocabSize), prompt[first + k + 1], request.PromptLogprobs!.Value, _scratch);
            request.NumPromptPositionsScored = first + count;
            scored.Add(request.RequestId, entries);
        }
        return scored;
    }
}
