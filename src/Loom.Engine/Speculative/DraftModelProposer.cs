using Loom.Backends;
using Loom.Core.Scheduling;
using Loom.Engine.Sampling;

namespace Loom.Engine.Speculative;

/// <summary>
/// Method draft_model: a second model drafts each token through the request's own sampler
/// (<see cref="Sampling.Sampler.Draft"/>): greedy requests get the argmax of the processed row (a point mass, q = 1),
/// random ones a draw from the processed distribution q, kept on the request for the verifier's general rule, so the
/// output stays exactly the target's either way. Its paged KV cache has the target's block count and size,
/// so each request's block table from the scheduler names its draft KV too: no state of its own per request.
/// After each step the draft first catches up on what the target's entry covered, from the first position whose
/// draft KV it lacks (<see cref="RunnerRequestState.NumDraftComputed"/>: the entry's start position while it keeps up)
/// to the request's last token (a prefill chunk's tokens; or the last token, the accepted drafts and the bonus
/// token), with a logits row on that last token, then runs k - 1 one-token steps on its own drafts, every drafting
/// request in the same batch. Positions below are the draft's own or came from the prefix cache (trusted as filled by
/// a request the draft followed). A step of disable_by_batch_size requests or more runs no draft forward at all (the
/// catch-up would cost a draft step for nothing): the requests fall behind, and when drafting resumes each catches up
/// from where it stopped, as many positions per step as the draft's batch holds, drafting once it is level. What it
/// writes past the request's last token (its drafts' KV) sits in the scheduler's lookahead slots and is overwritten
/// by the next catch-up.
/// Drafts stop at the request's blocks (a draft needs a KV slot) and at the draft's max_position_embeddings.
/// </summary>
internal sealed class DraftModelProposer : DraftProposer
{
    private readonly IModelExecutor _draft;
    private readonly int _blockSize, _maxPositions, _vocabSize;
    private readonly ForwardBatch _batch; // capacity [maxNumTokens + maxNumSeqs] tokens: an entry's tokens + its bonus token
    private int[] _buffer = [];           // [numSeqs * k] this step's drafts, k slots per entry
    private int[] _numDrafts = [];        // [numSeqs] drafts each entry gets (0 = none)
    private int[] _rowOf = [];            // [numSeqs] the entry's logits row in the current draft step, -1 when not in it
    private readonly float[] _row;        // [vocab] the row being drafted from, edited by the request's processors
    private readonly SamplerScratch _scratch = new();

    public DraftModelProposer(SpeculativeConfig config, IModelExecutor draft, int maxNumTokens, int maxNumSeqs) : base(config)
    {
        _draft = draft;
        _blockSize = draft.KvCache.BlockSize;
        _maxPositions = draft.Config.MaxPositionEmbeddings;
        _vocabSize = draft.Config.VocabSize;
        _batch = new ForwardBatch(maxNumTokens + maxNumSeqs, maxNumSeqs, maxNumSeqs);
        _row = new float[_vocabSize];
    }

    public override DraftTokens? Propose(SchedulerOutput output, ReadOnlySpan<RunnerRequestState> requests, ReadOnlySpan<int> sampledOffsets)
    {
        int n = output.Scheduled.Count;
        bool drafting = n < DisableByBatchSize;
        int k = NumSpeculativeTokens;
        if (_buffer.Length < n * k) (_buffer, _numDrafts, _rowOf) = (new int[n * k], new int[n], new int[n]);
        for (int i = 0; i < n; i++) requests[i].NumDraftComputed = Math.Min(requests[i].NumDraftComputed, output.Scheduled[i].StartPosition);
        if (!drafting) return null;
        CatchUp(output, requests, sampledOffsets);
        for (int j = 1; j < k; j++)
            if (!DraftStep(requests, n, j)) break;
        for (int i = 0; i < n; i++) Settle(requests[i], i);
        var offsets = new int[n + 1];
        var tokens = new int[SumOfDrafts(n)];
        for (int i = 0; i < n; i++)
        {
            _buffer.AsSpan(i * k, _numDrafts[i]).CopyTo(tokens.AsSpan(offsets[i]));
            offsets[i + 1] = offsets[i] + _numDrafts[i];
        }
        return new DraftTokens(offsets, tokens);
    }

    /// <summary>
    /// The catch-up pass: every entry's positions the draft lacks, up to what its batch holds; logits on the last token
    /// of each entry that is level and drafts; d1 from them.
    /// </summary>
    private void CatchUp(SchedulerOutput output, ReadOnlySpan<RunnerRequestState> requests, ReadOnlySpan<int> sampledOffsets)
    {
        var batch = _batch;
        int t = 0, seqs = 0, rows = 0;
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            var s = output.Scheduled[i];
            var request = requests[i];
            _numDrafts[i] = 0;
            _rowOf[i] = -1;
            bool sampled = sampledOffsets[i + 1] > sampledOffsets[i];
            if (s.SamplesToken && !sampled) continue; // a faulted row: the request is ending
            int writable = Writable(request);
            int start = request.NumDraftComputed;
            int end = Math.Min(Math.Min(sampled ? request.NumTokens : s.ContextLength, writable), start + batch.MaxNumTokens - t);
            if (end <= start) continue;
            AddSequence(batch, seqs++, ref t, request, start, end - start);
            request.NumDraftComputed = end;
            if (!sampled || end != request.NumTokens) continue;
            _numDrafts[i] = Math.Min(LimitFor(request), writable - request.NumTokens + 1);
            _rowOf[i] = rows;
            batch.LogitsIndices[rows++] = t - 1;
        }
        if (seqs == 0) return;
        (batch.NumTokens, batch.NumSeqs, batch.NumLogits) = (t, seqs, rows);
        TakeDrafts(_draft.Forward(batch), requests[..output.Scheduled.Count], draftIndex: 0);
    }

    /// <summary>
    /// Draft step <paramref name="j"/> (1-based): each entry still drafting feeds its draft j at position
    /// NumTokens + j - 1 and gets draft j + 1. False when no entry needs it.
    /// </summary>
    private bool DraftStep(ReadOnlySpan<RunnerRequestState> requests, int n, int j)
    {
        var batch = _batch;
        int t = 0, rows = 0;
        int k = NumSpeculativeTokens;
        for (int i = 0; i < n; i++)
        {
            _rowOf[i] = -1;
            if (_numDrafts[i] <= j) continue;
            var request = requests[i];
            int position = request.NumTokens + j - 1;
            batch.TokenIds[t] = _buffer[i * k + j - 1];
            batch.Positions[t] = position;
            batch.Seqs[rows] = new SequenceSlice(t, 1, position + 1, request.BlockTable);
            batch.LogitsIndices[rows] = t;
            _rowOf[i] = rows++;
            t++;
        }
        if (rows == 0) return false;
        (batch.NumTokens, batch.NumSeqs, batch.NumLogits) = (t, rows, rows);
        TakeDrafts(_draft.Forward(batch), requests[..n], j);
        return true;
    }

    /// <summary>
    /// Draft <paramref name="draftIndex"/> of each entry in the step, drawn from its row by the request's sampler
    /// (which commits it tentatively, and for random sampling writes its q). A row nothing can be drawn from, or
    /// one whose processors fail, ends that entry's drafts there: the target's own row still decides the token.
    /// </summary>
    private void TakeDrafts(ReadOnlySpan<float> logits, ReadOnlySpan<RunnerRequestState> requests, int draftIndex)
    {
        for (int i = 0; i < requests.Length; i++)
        {
            if (_rowOf[i] < 0) continue;
            var request = requests[i];
            logits.Slice(_rowOf[i] * _vocabSize, _vocabSize).CopyTo(_row);
            int token;
            try
            {
                token = request.Sampler.Draft(_row, ProbsRow(request, draftIndex), _scratch);
            }
            catch (Exception)
            {
                token = -1;
            }
            if (token < 0) _numDrafts[i] = draftIndex;
            else _buffer[i * NumSpeculativeTokens + draftIndex] = token;
        }
    }

    /// <summary>Row <paramref name="draftIndex"/> of the request's q buffer (made on its first sampled draft); empty for greedy.</summary>
    private Span<float> ProbsRow(RunnerRequestState request, int draftIndex)
    {
        if (request.Params.IsGreedy) return default;
        request.DraftProbs ??= new float[NumSpeculativeTokens * _vocabSize];
        return request.DraftProbs.AsSpan(draftIndex * _vocabSize, _vocabSize);
    }

    /// <summary>The run is proposed: its tentative commits are taken back, and its q kept for the verifier (none for greedy).</summary>
    private void Settle(RunnerRequestState request, int entry)
    {
        var drafts = _buffer.AsSpan(entry * NumSpeculativeTokens, _numDrafts[entry]);
        request.Sampler.UndoDrafts(drafts);
        request.NumDraftProbs = request.Params.IsGreedy ? 0 : drafts.Length;
    }

    private void AddSequence(ForwardBatch batch, int seq, ref int t, RunnerRequestState request, int start, int count)
    {
        request.Tokens.Slice(start, count).CopyTo(batch.TokenIds.AsSpan(t));
        for (int q = 0; q < count; q++) batch.Positions[t + q] = start + q;
        batch.Seqs[seq] = new SequenceSlice(t, count, start + count, request.BlockTable);
        t += count;
    }

    /// <summary>Positions the draft may write for this request: those its blocks cover, below max_position_embeddings.</summary>
    private int Writable(RunnerRequestState request) => Math.Min(request.NumBlocks * _blockSize, _maxPositions);

    private int SumOfDrafts(int n)
    {
        int total = 0;
        for (int i = 0; i < n; i++) total += _numDrafts[i];
        return total;
    }
}
