namespace Loom.Bench.Metrics;

/// <summary>Mean, median, population std and selected percentiles of one latency metric, in milliseconds.</summary>
public sealed record MetricSummary(double MeanMs, double MedianMs, double StdMs, IReadOnlyList<PercentileValue> Percentiles)
{
    /// <summary>The value at percentile p, which must be one of those computed.</summary>
    public double At(double p) => Percentiles.First(x => x.Percentile == p).ValueMs;

    public static MetricSummary Of(IReadOnlyList<double> secondsValues, IReadOnlyList<double> percentiles)
    {
        var sorted = secondsValues.ToArray();
        Array.Sort(sorted);
        var points = percentiles.Select(p => new PercentileValue(p, Statistics.PercentileOfSorted(sorted, p) * 1000)).ToArray();
        return new MetricSummary(Statistics.Mean(sorted) * 1000, Statistics.PercentileOfSorted(sorted, 50) * 1000,
            Statistics.Std(sorted) * 1000, points);
    }
}

public readonly record struct PercentileValue(double Percentile, double ValueMs)
{
    /// <summary>vLLM's key word: "99" for 99.0, "99.9" otherwise.</summary>
    public string Word => Percentile == Math.Floor(Percentile)
        ? ((long)Percentile).ToString(System.Globalization.CultureInfo.InvariantCulture)
        : Percentile.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Aggregate results of one benchmark run (vLLM's BenchmarkMetrics). Throughputs are per second of wall time.</summary>
public sealed record BenchmarkMetrics
{
    public int Completed { get; init; }
    public int Failed { get; init; }
    public long TotalInput { get; init; }
    public long TotalOutput { get; init; }
    public double RequestThroughput { get; init; }
    /// <summary>Requests per second that met every SLO; null when no SLO was given.</summary>
    public double? RequestGoodput { get; init; }
    public double OutputThroughput { get; init; }
    public double TotalTokenThroughput { get; init; }
    public required MetricSummary Ttft { get; init; }
    /// <summary>Time per output token excluding the first: (e2el - ttft) / (output_len - 1), over requests with output_len > 1.</summary>
    public required MetricSummary Tpot { get; init; }
    /// <summary>Inter-token latency: every gap between consecutive streamed chunks of every request.</summary>
    public required MetricSummary Itl { get; init; }
    public required MetricSummary E2el { get; init; }
    /// <summary>Most output tokens (chunks) seen in one one-second bucket of the run.</summary>
    public double MaxOutputTokensPerS { get; init; }
    /// <summary>
    /// vLLM's max_concurrent_requests: the most requests whose lifetimes touch one one-second bucket. Not the number in
    /// flight at once: requests that end and start within the same second all count, so it can exceed --max-concurrency.
    /// Kept with vLLM's meaning so result files compare with vLLM's.
    /// </summary>
    public int MaxConcurrentRequests { get; init; }
    /// <summary>The most successful requests in flight at one instant (from send to last token); at most --max-concurrency.</summary>
    public int PeakConcurrentRequests { get; init; }
    /// <summary>Requests sent again at least once because their connection closed before any response byte arrived.</summary>
    public int ResentRequests { get; init; }
    /// <summary>Output length of each request (0 for a failed one), in request order.</summary>
    public IReadOnlyList<int> ActualOutputLens { get; init; } = [];
}
