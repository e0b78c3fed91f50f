using Loom.Bench.Client;
using Loom.Bench.Datasets;
using Loom.Bench.Metrics;
using Loom.Bench.Reporting;

namespace Loom.Bench.Serving;

/// <summary>A server to measure and the name its results go under (for example "chunked-prefill-off").</summary>
public sealed record ServeTarget(string Label, OpenAiStreamingClient Client);

/// <summary>
/// Runs one workload against one or more servers at each of several request rates. Runs interleave (rate 1 on every
/// target, then rate 2 …) so that slow drift of the machine, such as other load, touches every target alike: that is
/// what "measured side by side in one run" means here. Every run sends the same requests.
/// </summary>
public sealed class ServeSweep(IReadOnlyList<ServeTarget> targets, Func<string, int>? countTokens = null)
{
    public delegate void RunStarting(string label, double requestRate, int numRequests);

    public async Task<IReadOnlyList<(string Label, ServeRunResult Run)>> RunAsync(IReadOnlyList<SampleRequest> requests,
        IReadOnlyList<double> requestRates, ServeRunOptions options, RunStarting? onRunStarting = null,
        Action<RequestOutcome>? onRequestDone = null, CancellationToken cancellationToken = default)
    {
        if (targets.Count == 0) throw new ArgumentException("no server to benchmark.", nameof(targets));
        if (requestRates.Count == 0) throw new ArgumentException("no request rate given.", nameof(requestRates));
        var results = new List<(string, ServeRunResult)>();
        foreach (double rate in requestRates)
            foreach (var target in targets)
            {
                onRunStarting?.Invoke(target.Label, rate, requests.Count);
                var benchmark = new ServeBenchmark(target.Client, countTokens);
                var run = await benchmark.RunAsync(requests, options with { RequestRate = rate }, onRequestDone, cancellationToken).ConfigureAwait(false);
                results.Add((target.Label, run));
            }
        return results;
    }

    /// <summary>Groups a sweep's runs by label, in the order the labels first appear, for <see cref="SweepPlots"/>.</summary>
    public static IReadOnlyList<SweepSeries> ToSeries(IReadOnlyList<(string Label, ServeRunResult Run)> runs) =>
        runs.GroupBy(r => r.Label)
            .Select(g => new SweepSeries(g.Key, g.Select(r => (r.Run.Options.RequestRate, r.Run.Metrics)).ToArray()))
            .ToArray();
}
