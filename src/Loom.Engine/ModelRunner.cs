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
/// Its arrays are reused while the batch shape stays the same, so steady decoding allocates no buffers.
/// </summary>
internal sealed class ModelRunner
{
    private readonly IModelExecutor _executor;
    private readonly KvCacheManager _kvCache;
    private readonly BatchSampler _sampler = new();
    private readonly PromptLogprobScorer _promptScorer = new();
    private readonly int _vocabSize;
    private int[] _tokenIds = [];            // [numTokens] ForwardBatch needs exact lengths: reallocated only on change
    private int[] _positions = [];           // [numTokens]
    private SequenceSlice[] _seqs = [];      // [numSeqs]
    private int[] _logitsIndices = [];       // [numSampled + prompt logprob rows]
    private float[] _logits = [];            // [rows, vocab], grown as needed: sampled rows first, then prompt rows
    private Sampler[] _samplers = [];        // [numSampled]
    private Request[] _rowRequests = [];     // [numSampled] whose row each is (for LogitsObserver)
    private SampledToken[] _sampled = [];    // [numSampled]
    private (int First, int Count)[] _promptRows = []; // [numSeqs] prompt logprob rows per scheduled request

    public ModelRunner(IModelExecutor executor, KvCacheManager kvCache)
    {
        _executor = executor;
        _kvCache = kvCache;
        _vocabSize = executor.Config.VocabSize;
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
        var batch = BuildBatch(output, numSampled, stateOf);
        var allLogits = EnsureLogits(batch.LogitsIndices.Length);
        _executor.Forward(batch, allLogits);
        if (_promptScorer.NumRows > 0) _promptScorer.Score(allLogits[(numSampled * _vocabSize)..], _vocabSize);
        if (numSampled == 0) return default;
        var logits = allLogits[..(numSampled * _vocabSize)];

        EnsureLength(ref _samplers, numSampled, exact: false);
        EnsureLength(ref _sampled, numSampled, exact: false);
        EnsureLength(ref _rowRequests, numSampled, exact: false);
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
        int numTokens = output.TotalNumScheduledTokens;
        EnsureLength(ref _tokenIds, numTokens, exact: true);
        EnsureLength(ref _positions, numTokens, exact: true);
        EnsureLength(ref _seqs, output.Scheduled.Count, exact: true);
        int numPromptRows = PlanPromptLogprobs(output, stateOf);
        EnsureLength(ref _logitsIndices, numSampled + numPromptRows, exact: true);

        int t = 0, sampled = 0, promptRow = numSampled;
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            var s = output.Scheduled[i];
            var tokens = s.Request.AllTokenIds.Slice(s.StartPosition, s.NumNewTokens);
            tokens.CopyTo(_tokenIds.AsSpan(t));
            for (int q = 0; q < s.NumNewTokens; q++) _positions[t + q] = s.StartPosition + q;
            _seqs[i] = new SequenceSlice(t, s.NumNewTokens, s.ContextLength, _kvCache.GetBlockTableBuffer(s.Request));
            if (numPromptRows > 0 && s.Request.Params.PromptLogprobs is not null)
            {
                var (first, count) = _promptRows[i];
                for (int r = 0; r < count; r++) _logitsIndices[promptRow++] = t + first - s.StartPosition + r;
            }
            t += s.NumNewTokens;
            if (s.SamplesToken) _logitsIndices[sampled++] = t - 1;
        }
        return new ForwardBatch { TokenIds = _tokenIds, Positions = _positions, Seqs = _seqs, LogitsIndices = _logitsIndices };
    }

    /// <summary>Plans the prompt log-probability rows of this step; returns their count (0 on the usual path).</summary>
    private int PlanPromptLogprobs(SchedulerOutput output, Func<Request, SequenceState> stateOf)
    {
        _promptScorer.Clear();
        for (int i = 0; i < output.Scheduled.Count; i++)
        {
            var s = output.Scheduled[i];
            if (s.Request.Params.PromptLogprobs is null) continue;
            EnsureLength(ref _promptRows, output.Scheduled.Count, exact: false);
            _promptRows[i] = _promptScorer.Plan(s, stateOf(s.Request));
        }
        return _promptScorer.NumRows;
    }

    private Span<float> EnsureLogits(int numRows)
    {
        int needed = numRows * _vocabSize;
        if (_logits.Length < needed) _logits = new float[Math.Max(needed, _logits.Length * 2)];
        return _logits.AsSpan(0, needed);
    }

    private static void EnsureLength<T>(ref T[] array, int length, bool exact)
    {
        if (exact ? array.Length != length : array.Length < length) array = new T[length];
    }
}
