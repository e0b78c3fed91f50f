namespace Loom.Bench.Arrivals;

/// <summary>
/// When each request is sent, as vLLM's get_request computes it: gaps drawn from Gamma(shape = burstiness,
/// scale = 1 / (rate * burstiness)) (exponential, i.e. Poisson arrivals, at burstiness 1), accumulated, then rescaled
/// so the last request goes out at exactly n / rate. Rate infinity sends everything at once; burstiness infinity gives
/// evenly spaced arrivals.
/// </summary>
public static class ArrivalSchedule
{
    /// <returns>Send offsets in seconds since the run started, ascending, one per request.</returns>
    public static double[] Create(int count, double requestRate, double burstiness, Random rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (!(requestRate > 0)) throw new ArgumentOutOfRangeException(nameof(requestRate), requestRate, "request rate must be positive (or infinity).");
        if (!(burstiness > 0)) throw new ArgumentOutOfRangeException(nameof(burstiness), burstiness, "burstiness must be positive (or infinity).");
        var offsets = new double[count];
        if (count == 0 || double.IsPositiveInfinity(requestRate)) return offsets;
        var gaps = Gaps(count, requestRate, burstiness, rng);
        double total = 0;
        for (int i = 0; i < count; i++) offsets[i] = total += gaps[i];
        // Without rescaling, the sum of random gaps misses n / rate by a few percent and throughput would depend on the
        // seed; vLLM rescales for that reason and so does this.
        double scale = count / requestRate / offsets[^1];
        for (int i = 0; i < count; i++) offsets[i] *= scale;
        return offsets;
    }

    /// <summary>The raw inter-arrival gaps before rescaling (seconds).</summary>
    public static double[] Gaps(int count, double requestRate, double burstiness, Random rng)
    {
        var gaps = new double[count];
        if (double.IsPositiveInfinity(burstiness))
        {
            Array.Fill(gaps, 1.0 / requestRate);
            return gaps;
        }
        var gamma = new GammaSampler(rng);
        double theta = 1.0 / (requestRate * burstiness);
        for (int i = 0; i < count; i++) gaps[i] = gamma.Next(burstiness, theta);
        return gaps;
    }

    /// <summary>Offsets replayed from a trace's timestamps (seconds), shifted to start at 0 and divided by timeScale
    /// (2 replays twice as fast). Timestamps must be ascending.</summary>
    public static double[] FromTimestamps(IReadOnlyList<double> timestamps, double timeScale = 1.0)
    {
        if (!(timeScale > 0)) throw new ArgumentOutOfRangeException(nameof(timeScale), timeScale, "time scale must be positive.");
        if (timestamps.Count == 0) return [];
        for (int i = 1; i < timestamps.Count; i++)
            if (timestamps[i] < timestamps[i - 1])
                throw new ArgumentException($"trace timestamps must be ascending; entry {i} ({timestamps[i]}) is before entry {i - 1} ({timestamps[i - 1]}).", nameof(timestamps));
        double first = timestamps[0];
        return timestamps.Select(t => (t - first) / timeScale).ToArray();
    }
}
