namespace Loom.Bench.Metrics;

/// <summary>vLLM's calculate_metrics: turns per-request client timelines into the aggregate numbers of one run.</summary>
public static class MetricsCalculator
{
    /// <param name="outcomes">One per request, in request order.</param>
    /// <param name="durationS">Wall time of the whole run in seconds.</param>
    /// <param name="percentiles">Which percentiles to report (for example 50, 90, 99).</param>
    /// <param name="slo">Goodput limits; <see cref="GoodputSlo.None"/> leaves request_goodput null.</param>
    /// <param name="countTokens">Counts the tokens of generated text when a server sent no usage; null falls back to
    /// the number of streamed chunks.</param>
    public static BenchmarkMetrics Calculate(IReadOnlyList<RequestOutcome> outcomes, double durationS,
        IReadOnlyList<double> percentiles, GoodputSlo slo, Func<string, int>? countTokens = null)
    {
        if (durationS <= 0 || !double.IsFinite(durationS)) throw new ArgumentOutOfRangeException(nameof(durationS), durationS, "duration must be positive.");
        var outputLens = new int[outcomes.Count];
        var ttfts = new List<double>();
        var tpots = new List<double>();
        var itls = new List<double>();
        var e2els = new List<double>();
        long totalInput = 0;
        int completed = 0, good = 0;
        for (int i = 0; i < outcomes.Count; i++)
        {
            var o = outcomes[i];
            if (!o.Success) continue;
            int outputLen = OutputLength(o, countTokens);
            outputLens[i] = outputLen;
            totalInput += o.PromptLen;
            // One-token outputs have no TPOT; vLLM leaves them out of the TPOT statistics but counts them as 0 for goodput.
            double tpot = 0;
            if (outputLen > 1)
            {
                tpot = (o.Latency - o.Ttft) / (outputLen - 1);
                tpots.Add(tpot);
            }
            itls.AddRange(o.Itl);
            ttfts.Add(o.Ttft);
            e2els.Add(o.Latency);
            completed++;
            if (!slo.IsEmpty && slo.IsMetBy(o.Ttft, tpot, o.Latency)) good++;
        }
        long totalOutput = outputLens.Sum(x => (long)x);
        var (peakTokens, peakConcurrency) = PeakPerSecond(outcomes);
        return new BenchmarkMetrics
        {
            Completed = completed,
            Failed = outcomes.Count - completed,
            TotalInput = totalInput,
            TotalOutput = totalOutput,
            RequestThroughput = completed / durationS,
            RequestGoodput = slo.IsEmpty ? null : good / durationS,
            OutputThroughput = totalOutput / durationS,
            TotalTokenThroughput = (totalInput + totalOutput) / durationS,
            Ttft = MetricSummary.Of(ttfts, percentiles),
            Tpot = MetricSummary.Of(tpots, percentiles),
            Itl = MetricSummary.Of(itls, percentiles),
            E2el = MetricSummary.Of(e2els, percentiles),
            MaxOutputTokensPerS = peakTokens,
            MaxConcurrentRequests = peakConcurrency,
            PeakConcurrentRequests = PeakInFlight(outcomes),
            ResentRequests = outcomes.Count(o => o.Resends > 0),
            ActualOutputLens = outputLens,
        };
    }

    private static int OutputLength(RequestOutcome o, Func<string, int>? countTokens)
    {
        if (o.OutputTokens > 0) return o.OutputTokens;
        // Several tokens may share one chunk, so chunks are only a lower bound; a tokenizer count is closer (vLLM's choice).
        return countTokens is not null ? countTokens(o.GeneratedText) : o.Itl.Count + 1;
    }

    /// <summary>
    /// vLLM's peak figures: chunk arrival times and request lifetimes bucketed into whole seconds since the first
    /// successful request started; the fullest bucket of each. A request counts in every bucket its lifetime touches, so
    /// when requests finish and others take their place within one second, the concurrency figure exceeds the number
    /// ever in flight at once (and any --max-concurrency); <see cref="PeakInFlight"/> is that number.
    /// </summary>
    private static (double Tokens, int Concurrency) PeakPerSecond(IReadOnlyList<RequestOutcome> outcomes)
    {
        var ok = outcomes.Where(o => o.Success).ToArray();
        if (ok.Length == 0) return (0, 0);
        double start = ok.Min(o => o.StartTime);
        double end = ok.Max(o => o.StartTime + o.Latency);
        int buckets = (int)Math.Ceiling(end - start) + 1;
        var tokens = new double[buckets];
        var concurrency = new int[buckets];
        foreach (var o in ok)
        {
            double t = o.StartTime + o.Ttft;
            AddToken(tokens, t - start);
            foreach (var gap in o.Itl)
            {
                t += gap;
                AddToken(tokens, t - start);
            }
            int first = (int)(o.StartTime - start), last = (int)(o.StartTime + o.Latency - start);
            for (int s = first; s <= last && s < buckets; s++) concurrency[s]++;
        }
        return (tokens.Max(), concurrency.Max());
    }

    /// <summary>
    /// The most successful requests in flight at one instant, each over [start, start + latency): a sweep over the
    /// sorted start and end times, an end before a start at the same time so that back-to-back requests do not overlap.
    /// </summary>
    public static int PeakInFlight(IReadOnlyList<RequestOutcome> outcomes)
    {
        var events = new List<(double Time, int Delta)>(2 * outcomes.Count);
        foreach (var o in outcomes.Where(o => o.Success))
        {
            events.Add((o.StartTime, +1));
            events.Add((o.StartTime + o.Latency, -1));
        }
        events.Sort(); // by time, then -1 before +1
        int inFlight = 0, peak = 0;
        foreach (var (_, delta) in events) peak = Math.Max(peak, inFlight += delta);
        return peak;
    }

    private static void AddToken(double[] tokens, double offset)
    {
        int bucket = (int)offset;
        if (bucket >= 0 && bucket < tokens.Length) tokens[bucket]++;
    }
}
