namespace Loom.Bench.Metrics;

/// <summary>
/// numpy's mean, population std (ddof = 0), median and percentile (method "linear"), which vLLM's bench uses.
/// vLLM passes `values or 0`, so an empty list reads as a single zero; the same holds here.
/// </summary>
public static class Statistics
{
    public static double Mean(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return 0;
        double sum = 0;
        foreach (var v in values) sum += v;
        return sum / values.Count;
    }

    /// <summary>Population standard deviation, as numpy.std with its default ddof = 0.</summary>
    public static double Std(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return 0;
        double mean = Mean(values), squares = 0;
        foreach (var v in values) squares += (v - mean) * (v - mean);
        return Math.Sqrt(squares / values.Count);
    }

    public static double Median(IReadOnlyList<double> values) => Percentile(values, 50);

    /// <summary>numpy.percentile(values, p) with linear interpolation between the two nearest ranks.</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (p is < 0 or > 100 || double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(p), p, "percentile must be in [0, 100].");
        if (values.Count == 0) return 0;
        var sorted = values.ToArray();
        Array.Sort(sorted);
        return PercentileOfSorted(sorted, p);
    }

    /// <summary>As <see cref="Percentile"/> for an already ascending array.</summary>
    public static double PercentileOfSorted(ReadOnlySpan<double> sorted, double p)
    {
        if (sorted.Length == 0) return 0;
        double rank = (sorted.Length - 1) * p / 100.0;
        int lower = (int)Math.Floor(rank);
        int upper = Math.Min(lower + 1, sorted.Length - 1);
        double fraction = rank - lower;
        // numpy's lerp: a + (b - a) * t, written so that t = 0 returns a exactly.
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction;
    }
}
