using Loom.Backends;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;
using Loom.Engine.Sampling;
using Loom.Engine.Speculative;

namespace Loom.Engine;

/// <summary>Receives each sampled row's raw logits before sampling (tests compare them across batch compositions).</summary>
public delegate void LogitsObserver(ObservedRequest request, ReadOnlySpan<float> logits);

/// <summary>What an observer learns of a row's request: the runner's own view (it holds no scheduler Request).</summary>
/// <param name="NumOutputTokens">Tokens the request had committed before this row.</param>
public readonly record struct ObservedRequest(string RequestId, int SampleIndex, SamplingParams Params, int NumOutputTokens);

/// <summary>
/// The model runner (vLLM's GPUModelRunner): one message in, one out. It keeps its own persistent state per request
/// (tokens, block table, sampler) updated from each <see cref="SchedulerOutput"/>'s diffs, flattens the step into a
/// <see cref="ForwardBatch"/> (new tokens of every request back to back), calls the executor, samples each request that
/// reached its last token and returns a <see cref="ModelRunnerOutput"/>. It never sees the scheduler or the engine.
/// The batch is allocated once at the scheduler's capacity (max_num_batched_tokens, max_num_seqs) and refilled every
/// step; logits are read where the executor left them, so steady decoding allocates no buffers.
/// With speculative decoding an entry also carries drafts after its last token: the runner scores every one of those
/// positions in the same pass, verifies the drafts in order (<see cref="BatchSampler.SampleWithDrafts"/>), and drafts
/// again for the next step from the request's tokens (<see cref="DraftProposer"/>).
/// </summary>
internal sealed class ModelRunner
{
    private readonly IModelExecutor _executor;
    private readonly Dictionary<string, RunnerRequestState> _requests = new();
    private readonly BatchSampler _sampler = new();
    private readonly PromptLogprobScorer _promptScorer = new();
    private readonly int _vocabSize;
    private readonly ForwardBatch _forward;  // capacity [maxNumTokens] tokens, [maxNumSeqs] seqs; logits rows: sampled, then prompt
    private RunnerRequestState[] _stepRequests = []; // [numSeqs] this step's requests, in schedule order
    private RunnerRequestState[] _rowRequests = []; // [numSampled] whose row each is (for LogitsObserver)
    private SampledToken[] _sampled = [];    // [numSampledRows] per row: last token and each draft of every sampled entry
    private int[] _numEmitted = [];          // [numSeqs] tokens each entry emitted this step
    private readonly DraftProposer? _proposer;
    private (int First, int Count)[] _promptRows = []; // [numSeqs] prompt logprob rows per scheduled request

    /// <param name="maxNumTokens">The scheduler's token budget per step (max_num_batched_tokens).</param>
    /// <param name="maxNumSeqs">The most requests one step schedules (max_num_seqs).</param>
    /// <param name="speculative">Draft proposer settings; null = no speculative decoding.</param>
    /// <param name="draftExecutor">The draft model of method draft_model, its KV cache of the same blocks as <paramref name="executor"/>'s.</param>
    public ModelRunner(IModelExecutor executor, int maxNumTokens, int maxNumSeqs, SpeculativeConfig? speculative = null,
        IModelExecutor? draftExecutor = null)
    {
        if (speculative is not null) _proposer = DraftProposer.Create(speculative, draftExecutor, maxNumTokens, maxNumSeqs);
        _executor = executor;
        _vocabSize = executor.Config.VocabSize;
        // Logits rows are distinct tokens of the step (each sampled last token, each scored prompt token): at most maxNumTokens.
        _forward = new ForwardBatch(maxNumTokens, maxNumSeqs, maxNumLogits: maxNumTokens);
        _observeRow = (row, logits) => LogitsObserver?.Invoke(_rowRequests[row].Observed, logits);
    }

    private readonly RowObserver _observeRow; // made once: no delegate per step

    public LogitsObserver? LogitsObserver { get; set; }

    /// <summary>Bytes of one KV block in the cache's own dtype.</summary>
    public long BlockBytes => _executor.BlockBytes;

    /// <summary>Copies whole KV blocks out (a prefill's KV leaving for a decode instance).</summary>
    public void ExportBlocks(ReadOnlySpan<int> blockIds, Span<byte> destination) => _executor.ExportBlocks(blockIds, destination);

    /// <summary>Overwrites whole KV blocks with KV computed elsewhere (a decode instance landing a prefill's KV).</summary>
    public void ImportBlocks(ReadOnlySpan<int> blockIds, ReadOnlySpan<byte> source) => _executor.ImportBlocks(blockIds, source);

    /// <summary>Requests the runner holds state for (finished ones are dropped when the scheduler says so).</summary>
    public int NumRequests => _requests.Count;

    /// <summary>
    /// Applies the step's diffs, runs the forward pass and samples. Entry i of the output is Scheduled[i]; a row that
    /// could not be sampled gets no token and its fault in <see cref="ModelRunnerOutput.SamplingFaults"/>.
    /// </summary>
    public ModelRunnerOutput Execute(SchedulerOutput output)
    {
        ApplyDiffs(output);
        if (output.IsEmpty) return new ModelRunnerOutput([0], []); // finished ids still had to be heard
        int numRows = NumSampledRows(output);
        var allLogits = _executor.Forward(BuildBatch(output, numRows));
        var promptLogprobs = _promptScorer.NumRows > 0 ? _promptScorer.Score(allLogits[(numRows * _vocabSize)..], _vocabSize) : null;
        var sampled = Sample(output, allLogits[..(numRows * _vocabSize)], numRows);
        return promptLogprobs is null ? sampled : sampled with { PromptLogprobs = promptLogprobs };
    }

    /// <summary>Logits rows sampled this step: each sampled entry's last token and its drafts.</summary>
    private static int NumSampledRows(SchedulerOutput output)
    {
        int rows = 0;
        foreach (var s in output.Scheduled)
            if (s.SamplesToken) rows += 1 + s.NumSpecTokens;
        return rows;
    }

    /// <summary>Drops finished requests, forgets preempted ones' blocks, adds new requests and every entry's new blocks.</summary>
    private void ApplyDiffs(SchedulerOutput output)
    {
        foreach (var id in output.FinishedRequestIds) _requests.Remove(id);
        foreach (var id in output.PreemptedRequestIds)
            if (_requests.TryGetValue(id, out var preempted)) preempted.DropBlocks();
        foreach (var request in output.NewRequests) _requests.Add(request.RequestId, new RunnerRequestState(request, _vocabSize));
        EnsureLength(ref _stepRequests, output.Scheduled.Count);
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            var s = output.Scheduled[i];
            var request = _requests.TryGetValue(s.RequestId, out var known) ? known
                : throw new InvalidOperationException($"The scheduler ran {s.RequestId} but never sent it as a new request.");
            if (s.ContextLength - s.NumSpecTokens > request.NumTokens)
                throw new InvalidOperationException($"{s.RequestId}: scheduled up to position {s.ContextLength - s.NumSpecTokens} (before drafts) but the runner holds {request.NumTokens} tokens.");
            request.UpdateBlocks(s.FirstNewBlockIndex, s.NewBlockIds);
            _stepRequests[i] = request;
        }
    }

    private ModelRunnerOutput Sample(SchedulerOutput output, Span<float> logits, int numRows)
    {
        EnsureLength(ref _sampled, numRows);
        EnsureLength(ref _rowRequests, numRows);
        EnsureLength(ref _numEmitted, output.Scheduled.Count);
        var observe = LogitsObserver is null ? null : _observeRow;
        int row = 0;
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            var s = output.Scheduled[i];
            _numEmitted[i] = 0;
            if (!s.SamplesToken) continue;
            var request = _stepRequests[i];
            int rows = 1 + s.NumSpecTokens;
            _rowRequests.AsSpan(row, rows).Fill(request);
            _numEmitted[i] = _sampler.SampleWithDrafts(request.Sampler, logits.Slice(row * _vocabSize, rows * _vocabSize), s.SpecTokenIds,
                _sampled.AsSpan(row, rows), row, observe, request.DraftProbsOf(s.NumSpecTokens, _vocabSize));
            if (_sampled[row + _numEmitted[i] - 1].Fault is null) _proposer?.Observe(request, s.NumSpecTokens, _numEmitted[i] - 1);
            row += rows;
        }
        var result = Collect(output, numRows);
        Array.Clear(_stepRequests, 0, output.Scheduled.Count); // do not keep finished requests alive
        Array.Clear(_rowRequests, 0, numRows);
        return result;
    }

    /// <summary>
    /// The emitted tokens as the output message; each request's own copy takes them, then drafts its next step.
    /// A run that ends on a faulted row gives its entry no token and the fault.
    /// </summary>
    private ModelRunnerOutput Collect(SchedulerOutput output, int numRows)
    {
        var offsets = new int[output.Scheduled.Count + 1];
        var tokens = new List<int>(numRows);
        TokenLogprob?[]? logprobs = null;
        Dictionary<string, Exception>? faults = null;
        int row = 0;
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            offsets[i + 1] = offsets[i];
            var s = output.Scheduled[i];
            if (!s.SamplesToken) continue;
            var emitted = _sampled.AsSpan(row, _numEmitted[i]);
            row += 1 + s.NumSpecTokens;
            if (emitted[^1].Fault is { } fault)
            {
                (faults ??= [])[_stepRequests[i].RequestId] = fault;
                continue;
            }
            foreach (var token in emitted)
            {
                _stepRequests[i].Append(token.TokenId);
                if (token.Logprobs is not null) (logprobs ??= new TokenLogprob?[numRows])[tokens.Count] = token.Logprobs;
                tokens.Add(token.TokenId);
            }
            offsets[i + 1] += emitted.Length;
        }
        if (logprobs is not null && logprobs.Length != tokens.Count) Array.Resize(ref logprobs, tokens.Count);
        return new ModelRunnerOutput(offsets, [.. tokens], logprobs)
        {
            SamplingFaults = faults ?? NoFaults,
            Drafts = _proposer?.Propose(output, _stepRequests, offsets),
        };
    }

    private static readonly Dictionary<string, Exception> NoFaults = new();

    /// <summary>
    /// Flattens the step: each entry's tokens from its own copy, then its drafts; the logits rows sampled first (each
    /// sampled entry's last token and drafts, in order), then prompt-scoring rows.
    /// </summary>
    private ForwardBatch BuildBatch(SchedulerOutput output, int numSampled)
    {
        var batch = _forward;
        batch.NumTokens = output.TotalNumScheduledTokens;
        batch.NumSeqs = output.Scheduled.Count;
        int numPromptRows = PlanPromptLogprobs(output);
        batch.NumLogits = numSampled + numPromptRows;

        int t = 0, sampled = 0, promptRow = numSampled;
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            var s = output.Scheduled[i];
            var request = _stepRequests[i];
            int numKnown = s.NumNewTokens - s.NumSpecTokens;
            request.Tokens.Slice(s.StartPosition, numKnown).CopyTo(batch.TokenIds.AsSpan(t));
            s.SpecTokenIds.CopyTo(batch.TokenIds.AsSpan(t + numKnown));
            for (int q = 0; q < s.NumNewTokens; q++) batch.Positions[t + q] = s.StartPosition + q;
            batch.Seqs[i] = new SequenceSlice(t, s.NumNewTokens, s.ContextLength, request.BlockTable);
            if (numPromptRows > 0)
            {
                var (first, count) = _promptRows[i];
                for (int r = 0; r < count; r++) batch.LogitsIndices[promptRow++] = t + first - s.StartPosition + r;
            }
            t += s.NumNewTokens;
            if (!s.SamplesToken) continue;
            for (int r = s.NumSpecTokens; r >= 0; r--) batch.LogitsIndices[sampled++] = t - 1 - r;
        }
        return batch;
    }

    /// <summary>Plans the prompt log-probability rows of this step; returns their count (0 on the usual path).</summary>
    private int PlanPromptLogprobs(SchedulerOutput output)
    {
        _promptScorer.Clear();
        EnsureLength(ref _promptRows, output.Scheduled.Count);
        for (int i = 0; i < output.Scheduled.Count; i++)
            _promptRows[i] = _promptScorer.Plan(output.Scheduled[i], _stepRequests[i]);
        return _promptScorer.NumRows;
    }

    private static void EnsureLength<T>(ref T[] array, int length)
    {
        if (array.Length < length) array = new T[length];
    }
}
