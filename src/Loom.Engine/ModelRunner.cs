using Loom.Backends;
using Loom.Core.KvCache;
using Loom.Core.Requests;
using Loom.Core.Scheduling;
using Loom.Engine.Requests;
using Loom.Engine.Sampling;

namespace Loom.Engine;

/// <summary>Receives each sampled row's raw logits before sampling (tests compare them across batch compositions).</summary>
public delegate void LogitsObserver(Request request, ReadOnlySpan<float> logits);

/// <summary>
/// Runs one scheduled step: flattens the <see cref="SchedulerOutput"/> into a <see cref="ForwardBatch"/> (new tokens of
/// every request back to back), calls the executor, and samples one token for each request that reached its last token.
/// The batch is allocated once at the scheduler's capacity (max_num_batched_tokens, max_num_seqs) and refilled every
/// step; logits are read where the executor left them, so steady decoding allocates no buffers.
/// </summary>
internal sealed class ModelRunner
{
    private readonly IModelExecutor _executor;
    private readonly KvCacheManager _kvCache;
    private readonly BatchSampler _sampler = new();
    private readonly PromptLogprobScorer _promptScorer = new();
    private readonly int _vocabSize;
    private readonly ForwardBatch _batch;    // capacity [maxNumTokens] tokens, [maxNumSeqs] seqs; logits rows: sampled, then prompt
    private Sampler[] _samplers = [];        // [numSampled]
    private Request[] _rowRequests = [];     // [numSampled] whose row each is (for LogitsObserver)
    private SampledToken[] _sampled = [];    // [numSampled]
    private (int First, int Count)[] _promptRows = []; // [numSeqs] prompt logprob rows per scheduled request

    /// <param name="maxNumTokens">The scheduler's token budget per step (max_num_batched_tokens).</param>
    /// <param name="maxNumSeqs">The most requests one step schedules (max_num_seqs).</param>
    public ModelRunner(IModelExecutor executor, KvCacheManager kvCache, int maxNumTokens, int maxNumSeqs)
    {
        _executor = executor;
        _kvCache = kvCache;
        _vocabSize = executor.Config.VocabSize;
        // Logits rows are distinct tokens of the step (each sampled last token, each scored prompt token): at most maxNumTokens.
        _batch = new ForwardBatch(maxNumTokens, maxNumSeqs, maxNumLogits: maxNumTokens);
        _observeRow = (row, logits) => LogitsObserver?.Invoke(_rowRequests[row], logits);
    }

    private readonly RowObserver _observeRow; // made once: no delegate per step

    public LogitsObserver? LogitsObserver { get; set; }

    /// <summary>
    /// Forward + sample. Returns one token per scheduled request with SamplesToken, in schedule order (a row that could
    /// not be sampled carries its fault instead: see <see cref="SampledToken.Fault"/>). Prompt
    /// log-probabilities, where asked for, are appended to their requests' lists on the way.
    /// </summary>
    public ReadOnlySpan<SampledToken> Execute(SchedulerOutput output, Func<Request, SequenceState> stateOf)
    {
        int numSampled = output.NumSampled;
        var allLogits = _executor.Forward(BuildBatch(output, numSampled, stateOf));
        if (_promptScorer.NumRows > 0) _promptScorer.Score(allLogits[(numSampled * _vocabSize)..], _vocabSize);
        if (numSampled == 0) return default;
        var logits = allLogits[..(numSampled * _vocabSize)];

        EnsureLength(ref _samplers, numSampled);
        EnsureLength(ref _sampled, numSampled);
        EnsureLength(ref _rowRequests, numSampled);
        int row = 0;
        foreach (var s in output.Scheduled)
        {
            if (!s.SamplesToken) continue;
            _rowRequests[row] = s.Request;
            _samplers[row++] = stateOf(s.Request).Sampler;
        }
        _sampler.Sample(_samplers.AsSpan(0, numSampled), logits, _sampled, LogitsObserver is null ? null : _observeRow);
        Array.Clear(_samplers, 0, numSampled); // do not keep finished sequences' samplers alive
        Array.Clear(_rowRequests, 0, numSampled);
        return _sampled.AsSpan(0, numSampled);
    }

    private ForwardBatch BuildBatch(SchedulerOutput output, int numSampled, Func<Request, SequenceState> stateOf)
    {
        var batch = _batch;
        batch.NumTokens = output.TotalNumScheduledTokens;
        batch.NumSeqs = output.Scheduled.Count;
        int numPromptRows = PlanPromptLogprobs(output, stateOf);
        batch.NumLogits = numSampled + numPromptRows;

        int t = 0, sampled = 0, promptRow = numSampled;
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            var s = output.Scheduled[i];
            var tokens = s.Request.AllTokenIds.Slice(s.StartPosition, s.NumNewTokens);
            tokens.CopyTo(batch.TokenIds.AsSpan(t));
            for (int q = 0; q < s.NumNewTokens; q++) batch.Positions[t + q] = s.StartPosition + q;
            batch.Seqs[i] = new SequenceSlice(t, s.NumNewTokens, s.ContextLength, _kvCache.GetBlockTableBuffer(s.Request));
            if (numPromptRows > 0 && s.Request.Params.PromptLogprobs is not null)
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
    private int PlanPromptLogprobs(SchedulerOutput output, Func<Request, SequenceState> stateOf)
    {
        _promptScorer.Clear();
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            var s = output.Scheduled[i];
            if (s.Request.Params.PromptLogprobs is null) continue;
            EnsureLength(ref _promptRows, output.Scheduled.Count);
            _promptRows[i] = _promptScorer.Plan(s, stateOf(s.Request));
        }
        return _promptScorer.NumRows;
    }

    private static void EnsureLength<T>(ref T[] array, int length)
    {
        if (array.Length < length) array = new T[length];
    }
}
