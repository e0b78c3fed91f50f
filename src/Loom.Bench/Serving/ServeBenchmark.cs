using System.Diagnostics;
using Loom.Bench.Arrivals;
using Loom.Bench.Client;
using Loom.Bench.Datasets;
using Loom.Bench.Metrics;

namespace Loom.Bench.Serving;

/// <summary>
/// vLLM's benchmark(): sends a workload to a server at the scheduled arrival times (under an optional concurrency cap),
/// waits for every response, and computes the run's metrics. A run ends by itself once every request has finished.
/// </summary>
public sealed class ServeBenchmark(OpenAiStreamingClient client, Func<string, int>? countTokens = null)
{
    /// <summary>
    /// Sends the first request alone until it succeeds or the time runs out (vLLM's ready check); it also warms up
    /// the server and this client so the first measured request does not pay for JIT and connection setup.
    /// </summary>
    public async Task CheckReadyAsync(SampleRequest probe, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        string lastError;
        do
        {
            var outcome = await client.SendAsync(probe, Stopwatch.GetTimestamp(), cancellationToken).ConfigureAwait(false);
            if (outcome.Success) return;
            lastError = outcome.Error;
            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
        } while (Stopwatch.GetTimestamp() < deadline);
        throw new InvalidOperationException($"the server at {client.Target.ApiUrl} did not answer a test request within {timeout.TotalSeconds:0} s: {lastError}");
    }

    /// <param name="onRequestDone">Called as each request finishes (from any thread), e.g. to move a progress bar.</param>
    public async Task<ServeRunResult> RunAsync(IReadOnlyList<SampleRequest> requests, ServeRunOptions options,
        Action<RequestOutcome>? onRequestDone = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (requests.Count == 0) throw new ArgumentException("the workload has no requests.", nameof(requests));
        var offsets = SendOffsets(requests, options);
        using var concurrency = options.MaxConcurrency is { } max ? new SemaphoreSlim(max, max) : null;
        var startedAt = DateTimeOffset.UtcNow;
        long origin = Stopwatch.GetTimestamp();
        var tasks = new Task<RequestOutcome>[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            var wait = TimeSpan.FromSeconds(offsets[i]) - Stopwatch.GetElapsedTime(origin);
            if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
            tasks[i] = SendLimitedAsync(requests[i], origin, concurrency, onRequestDone, cancellationToken);
        }
        var outcomes = await Task.WhenAll(tasks).ConfigureAwait(false);
        double duration = Stopwatch.GetElapsedTime(origin).TotalSeconds;
        var metrics = MetricsCalculator.Calculate(outcomes, duration, options.Percentiles, options.Goodput, countTokens);
        return new ServeRunResult(options, requests, outcomes, duration, metrics, startedAt);
    }

    /// <summary>Seconds after the start at which each request is sent.</summary>
    public static double[] SendOffsets(IReadOnlyList<SampleRequest> requests, ServeRunOptions options)
    {
        if (options.TraceTimeScale is { } scale)
        {
            if (requests.Any(r => r.TraceTimestamp is null)) throw new InvalidOperationException("trace replay needs a dataset with timestamps (burstgpt).");
            return ArrivalSchedule.FromTimestamps(requests.Select(r => r.TraceTimestamp!.Value).ToArray(), scale);
        }
        // Arrivals draw from their own seeded stream so the same seed gives the same schedule whatever the dataset drew.
        return ArrivalSchedule.Create(requests.Count, options.RequestRate, options.Burstiness, new Random(options.Seed));
    }

    private async Task<RequestOutcome> SendLimitedAsync(SampleRequest request, long origin, SemaphoreSlim? concurrency,
        Action<RequestOutcome>? onRequestDone, CancellationToken cancellationToken)
    {
        await Task.Yield(); // let the arrival loop go on to the next request without waiting for this one's connection
        if (concurrency is not null) await concurrency.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var outcome = await client.SendAsync(request, origin, cancellationToken).ConfigureAwait(false);
            onRequestDone?.Invoke(outcome);
            return outcome;
        }
        finally
        {
            concurrency?.Release();
        }
    }
}
