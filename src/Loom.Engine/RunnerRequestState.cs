using System.Diagnostics;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;
using Loom.Engine.Sampling;
using Loom.Engine.StructuredOutput;

namespace Loom.Engine;

/// <summary>
/// The model runner's own copy of one request (vLLM's CachedRequestState): its tokens, its block table and its
/// sampling state, built from <see cref="NewRequestData"/> and kept current from the scheduler's diffs and the tokens
/// the runner itself samples. Nothing here points back at the scheduler.
/// </summary>
internal sealed class RunnerRequestState
{
    private int[] _tokens;                // [NumTokens] prompt then sampled outputs; capacity grows by doubling
    private int[] _blockTable = new int[4]; // [NumBlocks] block id per block index; capacity grows by doubling

    public RunnerRequestState(NewRequestData request, int vocabSize)
    {
        RequestId = request.RequestId;
        SampleIndex = request.SampleIndex;
        Params = request.Params;
        NumPromptTokens = request.PromptTokenIds.Length;
        _tokens = new int[NumPromptTokens + Math.Clamp(request.Params.MaxTokens, 1, 256)]; // grown by doubling past that
        request.PromptTokenIds.CopyTo(_tokens, 0);
        NumTokens = NumPromptTokens;
        Sampler = new Sampler(request.Params, request.PromptTokenIds, vocabSize, [.. request.EosTokenIds], request.SampleIndex,
            Constraints(request));
        // Only the first of n samples scores the shared prompt (the others would repeat it).
        PromptLogprobs = request.SampleIndex == 0 ? request.Params.PromptLogprobs : null;
    }

    /// <summary>A grammar the request waited for becomes this sequence's own matcher (one per sample).</summary>
    private static ILogitsProcessor[]? Constraints(NewRequestData request) =>
        request.Gate is GrammarCompilation grammar ? [grammar.CreateProcessor()] : null;

    public string RequestId { get; }
    public int SampleIndex { get; }
    public SamplingParams Params { get; }
    public int NumPromptTokens { get; }
    public int NumTokens { get; private set; }
    public int NumBlocks { get; private set; }
    public Sampler Sampler { get; }
    /// <summary>Top alternatives per scored prompt token; null when this request does not score its prompt.</summary>
    public int? PromptLogprobs { get; }
    /// <summary>Prompt positions whose logits row has been scored (position p scores prompt token p + 1).</summary>
    public int NumPromptPositionsScored { get; set; }
    /// <summary>Most drafts to propose for this request's next step (adaptive k); null = num_speculative_tokens.</summary>
    public int? DraftLimit { get; set; }

    /// <summary>
    /// Leading positions whose KV the draft model has computed (method draft_model): it falls behind while
    /// disable_by_batch_size keeps it idle and catches up from here. Starts unbounded: a new request's first positions
    /// are its prefix-cache hit, trusted; every step lowers it to the entry's start (the target recomputes from there).
    /// </summary>
    public int NumDraftComputed { get; set; } = int.MaxValue;

    /// <summary>
    /// [num_speculative_tokens, vocab] the distribution q each of this request's current drafts was drawn from, when a
    /// draft model sampled them (allocated on its first sampled draft, then reused); rows past
    /// <see cref="NumDraftProbs"/> are stale.
    /// </summary>
    public float[]? DraftProbs { get; set; }

    /// <summary>Drafts whose q is in <see cref="DraftProbs"/>: 0 when the drafts are point masses (greedy, n-gram).</summary>
    public int NumDraftProbs { get; set; }

    /// <summary>
    /// [numDrafts, vocab] q of the first <paramref name="numDrafts"/> drafts (the scheduler schedules a prefix of what
    /// was proposed); empty for point masses.
    /// </summary>
    public ReadOnlySpan<float> DraftProbsOf(int numDrafts, int vocabSize)
    {
        if (numDrafts == 0 || NumDraftProbs == 0) return default;
        Debug.Assert(numDrafts <= NumDraftProbs, "the scheduler schedules a prefix of the drafts proposed");
        return DraftProbs.AsSpan(0, numDrafts * vocabSize);
    }

    /// <summary>This request as a logits observer sees it.</summary>
    public ObservedRequest Observed => new(RequestId, SampleIndex, Params, Sampler.NumOutputTokens);

    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, NumTokens);

    /// <summary>The block table buffer, handed to the executor without copying (entries past NumBlocks are stale).</summary>
    public int[] BlockTable => _blockTable;

    public void Append(int tokenId)
    {
        if (NumTokens == _tokens.Length) Array.Resize(ref _tokens, _tokens.Length * 2);
        _tokens[NumTokens++] = tokenId;
    }

    /// <summary>Applies one step's block-table diff: keep the first entries, append the new ones.</summary>
    public void UpdateBlocks(int firstNewBlockIndex, ReadOnlySpan<int> newBlockIds)
    {
        Debug.Assert(firstNewBlockIndex <= NumBlocks, "the scheduler never keeps blocks the runner has not heard of");
        int count = firstNewBlockIndex + newBlockIds.Length;
        if (count > _blockTable.Length) Array.Resize(ref _blockTable, Math.Max(count, _blockTable.Length * 2));
        newBlockIds.CopyTo(_blockTable.AsSpan(firstNewBlockIndex));
        NumBlocks = count;
    }

    /// <summary>Preempted: its blocks are gone; tokens and sampling state stay for when it resumes.</summary>
    public void DropBlocks() => NumBlocks = 0;
}
