namespace Loom.Core.Scheduling;

/// <summary>
/// Speculative decoding counters as vLLM keeps them (SpecDecodingStats): per verified step of a request, its drafts
/// (num_drafts), the draft tokens scheduled and the tokens accepted (emitted - 1, counted before any stop cuts the run),
/// and how often draft position i was accepted. Acceptance rate = accepted / draft tokens; mean acceptance length =
/// 1 + accepted / drafts (tokens per verification step, the bonus token included).
/// </summary>
public sealed class SpecDecodingStats
{
    private long[] _acceptedPerPosition = new long[8]; // [capacity >= _numPositions] grown on demand
    private int _numPositions;                         // the longest draft seen

    public long NumDrafts { get; private set; }
    public long NumDraftTokens { get; private set; }
    public long NumAcceptedTokens { get; private set; }

    public double AcceptanceRate => NumDraftTokens == 0 ? 0 : (double)NumAcceptedTokens / NumDraftTokens;
    public double MeanAcceptanceLength => NumDrafts == 0 ? 0 : 1 + (double)NumAcceptedTokens / NumDrafts;

    /// <summary>Accepted count of each draft position (0 = the first draft), up to the longest draft seen.</summary>
    public long[] AcceptedPerPosition() => _acceptedPerPosition[.._numPositions];

    /// <summary>An immutable copy, for readers on other threads (metrics).</summary>
    public SpecDecodingSnapshot Snapshot() => new(NumDrafts, NumDraftTokens, NumAcceptedTokens, AcceptedPerPosition());

    internal void Observe(int numDraftTokens, int numAccepted)
    {
        if (numDraftTokens > _acceptedPerPosition.Length) Array.Resize(ref _acceptedPerPosition, Math.Max(numDraftTokens, 2 * _acceptedPerPosition.Length));
        _numPositions = Math.Max(_numPositions, numDraftTokens);
        NumDrafts++;
        NumDraftTokens += numDraftTokens;
        NumAcceptedTokens += numAccepted;
        for (int i = 0; i < numAccepted; i++) _acceptedPerPosition[i]++;
    }
}

/// <summary>The counters of <see cref="SpecDecodingStats"/> at one moment.</summary>
/// <param name="AcceptedPerPosition">[longest draft] how often each draft position was accepted.</param>
public sealed record SpecDecodingSnapshot(long NumDrafts, long NumDraftTokens, long NumAcceptedTokens, long[] AcceptedPerPosition)
{
    public double AcceptanceRate => NumDraftTokens == 0 ? 0 : (double)NumAcceptedTokens / NumDraftTokens;
    public double MeanAcceptanceLength => NumDrafts == 0 ? 0 : 1 + (double)NumAcceptedTokens / NumDrafts;

    /// <summary>What was counted after <paramref name="before"/> (a benchmark's timed run).</summary>
    public SpecDecodingSnapshot Since(SpecDecodingSnapshot? before)
    {
        if (before is null) return this;
        var perPosition = (long[])AcceptedPerPosition.Clone();
        for (int i = 0; i < Math.Min(perPosition.Length, before.AcceptedPerPosition.Length); i++) perPosition[i] -= before.AcceptedPerPosition[i];
        return new(NumDrafts - before.NumDrafts, NumDraftTokens - before.NumDraftTokens, NumAcceptedTokens - before.NumAcceptedTokens, perPosition);
    }
}
