using Loom.Core.Scheduling;
using Loom.Engine.Requests;

namespace Loom.Engine.Sampling;

/// <summary>
/// vLLM's prompt_logprobs: the logits row of prompt position p scores prompt token p + 1. Each step it plans which
/// positions of the scheduled prompt chunks still need a row (only the first sample of a request scores its prompt, and a
/// position scored before a preemption is not scored again), then turns those rows into <see cref="TokenLogprob"/>s
/// appended to the request's list.
/// </summary>
internal sealed class PromptLogprobScorer
{
    private readonly List<(SequenceState Seq, int FirstPosition, int Count)> _planned = [];
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
    public (int FirstPosition, int Count) Plan(ScheduledRequest scheduled, SequenceState seq)
    {
        if (seq.Index != 0 || seq.Parent.PromptLogprobs is not { } scored) return (0, 0);
        int promptLength = seq.Request.NumPromptTokens;
        int from = Math.Max(scheduled.StartPosition, scored.Count - 1);
        int to = Math.Min(scheduled.StartPosition + scheduled.NumNewTokens, promptLength - 1);
        if (to <= from) return (0, 0);
        _planned.Add((seq, from, to - from));
        NumRows += to - from;
        return (from, to - from);
    }

    /// <summary>Scores the planned rows: <paramref name="logits"/> holds them in plan order, [NumRows, vocab].</summary>
    public void Score(ReadOnlySpan<float> logits, int vocabSize)
    {
        _scratch.EnsureCapacity(vocabSize);
        int row = 0;
        foreach (var (seq, first, count) in _planned)
        {
            var prompt = seq.Request.PromptTokenIds;
            var scored = seq.Parent.PromptLogprobs!;
            int topN = seq.Request.Params.PromptLogprobs ?? 0;
            for (int p = first; p < first + count; p++, row++)
                scored.Add(LogprobCalculator.Compute(logits.Slice(row * vocabSize, vocabSize), prompt[p + 1], topN, _scratch));
        }
    }
}
