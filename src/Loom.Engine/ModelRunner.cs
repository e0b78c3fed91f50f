using Loom.Backends;
using Loom.Core.Sampling;
using Loom.Core.Scheduling;
using Loom.Engine.Sampling;

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
    private Sampler[] _samplers = [];        // [numSampled]
    private RunnerRequestState[] _rowRequests = []; // [numSampled] whose row each is (for LogitsObserver)
    private SampledToken[] _sampled = [];    // [numSampled]
    private (int First, int Count)[] _promptRows = []; // [numSeqs] prompt logprob rows per scheduled request

    /// <param name="maxNumTokens">The scheduler's token budget per step (max_num_batched_tokens).</param>
    /// <param name="maxNumSeqs">The most requests one step schedules (max_num_seqs).</param>
    public ModelRunner(IModelExecutor executor, int maxNumTokens, int maxNumSeqs)
    {
        _executor = executor;
        _vocabSize = executor.Config.VocabSize;
        // Logits rows are distinct tokens of the step (each sampled last token, each scored prompt token): at most maxNumTokens.
        _forward = new ForwardBatch(maxNumTokens, maxNumSeqs, maxNumLogits: maxNumTokens);
        _observeRow = (row, logits) => LogitsObserver?.Invoke(_rowRequests[row].Observed, logits);
    }

    private readonly RowObserver _observeRow; // made once: no delegate per step

    public LogitsObserver? LogitsObserver { get; set; }

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
        int numSampled = output.NumSampled;
        var allLogits = _executor.Forward(BuildBatch(output, numSampled));
        var promptLogprobs = _promptScorer.NumRows > 0 ? _promptScorer.Score(allLogits[(numSampled * _vocabSize)..], _vocabSize) : null;
        var sampled = Sample(output, allLogits[..(numSampled * _vocabSize)], numSampled);
        return promptLogprobs is null ? sampled : sampled with { PromptLogprobs = promptLogprobs };
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
            if (s.ContextLength > request.NumTokens)
                throw new InvalidOperationException($"{s.RequestId}: scheduled up to position {s.ContextLength} but the runner holds {request.NumTokens} tokens.");
            request.UpdateBlocks(s.FirstNewBlockIndex, s.NewBlockIds);
            _stepRequests[i] = request;
        }
    }

    private ModelRunnerOutput Sample(SchedulerOutput output, Span<float> logits, int numSampled)
    {
        EnsureLength(ref _samplers, numSampled);
        EnsureLength(ref _sampled, numSampled);
        EnsureLength(ref _rowRequests, numSampled);
        int row = 0;
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            if (!output.Scheduled[i].SamplesToken) continue;
            _rowRequests[row] = _stepRequests[i];
            _samplers[row++] = _stepRequests[i].Sampler;
        }
        _sampler.Sample(_samplers.AsSpan(0, numSampled), logits, _sampled, LogitsObserver is null ? null : _observeRow);
        var result = Collect(output, numSampled);
        Array.Clear(_stepRequests, 0, output.Scheduled.Count); // do not keep finished requests alive
        Array.Clear(_samplers, 0, numSampled);
        Array.Clear(_rowRequests, 0, numSampled);
        return result;
    }

    /// <summary>The sampled rows as the output message; each request's own copy takes its token.</summary>
    private ModelRunnerOutput Collect(SchedulerOutput output, int numSampled)
    {
        var offsets = new int[output.Scheduled.Count + 1];
        var tokens = new List<int>(numSampled);
        TokenLogprob?[]? logprobs = null;
        Dictionary<string, Exception>? faults = null;
        int row = 0;
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            offsets[i + 1] = offsets[i];
            if (!output.Scheduled[i].SamplesToken) continue;
            var token = _sampled[row++];
            if (token.Fault is { } fault)
            {
                (faults ??= [])[_stepRequests[i].RequestId] = fault;
                continue;
            }
            _stepRequests[i].Append(token.TokenId);
            if (token.Logprobs is not null) (logprobs ??= new TokenLogprob?[numSampled])[tokens.Count] = token.Logprobs;
            tokens.Add(token.TokenId);
            offsets[i + 1]++;
        }
        if (logprobs is not null && logprobs.Length != tokens.Count) Array.Resize(ref logprobs, tokens.Count);
        return new ModelRunnerOutput(offsets, [.. tokens], logprobs) { SamplingFaults = faults ?? NoFaults };
    }

    private static readonly Dictionary<string, Exception> NoFaults = new();

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
            request.Tokens.Slice(s.StartPosition, s.NumNewTokens).CopyTo(batch.TokenIds.AsSpan(t));
            for (int q = 0; q < s.NumNewTokens; q++) batch.Positions[t + q] = s.StartPosition + q;
            batch.Seqs[i] = new SequenceSlice(t, s.NumNewTokens, s.ContextLength, request.BlockTable);
            if (numPromptRows > 0)
            {
                var (first, count) = _promptRows[i];
                for (int r = 0; r < count; r++) batch.LogitsIndices[promptRow++] = t + first - s.StartPosition + r;
            }
            t += s.NumNewTokens;
            if (s.SamplesToken) batch.LogitsIndices[sampled++] = t - 1;
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
