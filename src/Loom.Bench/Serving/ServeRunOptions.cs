using Loom.Bench.Metrics;

namespace Loom.Bench.Serving;

/// <summary>How one serving run paces its requests and what it reports.</summary>
public sealed record ServeRunOptions
{
    /// <summary>Requests per second; infinity sends all at once (vLLM's default).</summary>
    public double RequestRate { get; init; } = double.PositiveInfinity;
    /// <summary>Gamma shape of the arrival gaps: 1 is Poisson, lower is burstier, infinity is evenly spaced.</summary>
    public double Burstiness { get; init; } = 1.0;
    /// <summary>Most requests in flight at once; null = unlimited.</summary>
    public int? MaxConcurrency { get; init; }
    /// <summary>Replay the dataset's trace timestamps (divided by this factor) instead of drawing arrivals.</summary>
    public double? TraceTimeScale { get; init; }
    public IReadOnlyList<double> Percentiles { get; init; } = [50, 90, 99];
    public GoodputSlo Goodput { get; init; } = GoodputSlo.None;
    public int Seed { get; init; }

    public void Validate()
    {
        if (!(RequestRate > 0)) throw new ArgumentOutOfRangeException(nameof(RequestRate), RequestRate, "--request-rate must be positive or inf.");
        if (!(Burstiness > 0)) throw new ArgumentOutOfRangeException(nameof(Burstiness), Burstiness, "--burstiness must be positive.");
        if (MaxConcurrency is < 1) throw new ArgumentOutOfRangeException(nameof(MaxConcurrency), MaxConcurrency, "--max-concurrency must be at least 1.");
        if (TraceTimeScale is { } s && !(s > 0)) throw new ArgumentOutOfRangeException(nameof(TraceTimeScale), s, "the trace time scale must be positive.");
        foreach (var p in Percentiles)
            if (p is < 0 or > 100 || double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(Percentiles), p, "--metric-percentiles must be in [0, 100].");
    }
}

/// <summary>One finished serving run: its settings, per-request outcomes and aggregate metrics.</summary>
public sealed record ServeRunResult(
    ServeRunOptions Options,
    IReadOnlyList<Datasets.SampleRequest> Requests,
    IReadOnlyList<RequestOutcome> Outcomes,
    double DurationS,
    BenchmarkMetrics Metrics,
    DateTimeOffset StartedAt);
