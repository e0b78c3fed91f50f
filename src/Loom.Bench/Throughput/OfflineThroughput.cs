using System.Diagnostics;
using System.Globalization;
using Loom.Core.Sampling;
using Loom.Engine;

namespace Loom.Bench.Throughput;

/// <summary>
/// Drives an <see cref="LlmEngine"/> on the calling thread the way vLLM's offline `LLM.generate` does for
/// `bench throughput`: queue every request, then step until all have finished. Sampling is vLLM's (temperature 1,
/// top_p 1) with EOS ignored, so each request generates exactly its OutputLen tokens; per-request seeds make a run
/// repeatable.
/// </summary>
public sealed class OfflineThroughput(LlmEngine engine)
{
    /// <param name="onRequestDone">Called on this thread as each request finishes (for a progress bar).</param>
    public ThroughputResult Run(IReadOnlyList<OfflineRequest> requests, int seed = 0, Action? onRequestDone = null,
        CancellationToken cancellationToken = default)
    {
        if (requests.Count == 0) throw new ArgumentException("no request to run: --num-prompts must be at least 1.", nameof(requests));
        if (engine.HasWork) throw new InvalidOperationException("the engine still has requests from an earlier run.");
        for (int i = 0; i < requests.Count; i++) CheckFits(requests[i], i);

        var before = engine.GetStats();
        var startedAt = DateTimeOffset.UtcNow;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < requests.Count; i++)
            engine.AddRequest(new EngineRequest(RequestId(i), requests[i].PromptTokenIds, SamplingFor(requests[i], seed + i)));

        long outputTokens = 0, cachedPromptTokens = 0;
        int finished = 0;
        while (engine.HasWork)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                for (int i = 0; i < requests.Count; i++) engine.Abort(RequestId(i));
                while (engine.HasWork) engine.Step(); // report the aborts so the engine is left empty
                cancellationToken.ThrowIfCancellationRequested();
            }
            foreach (var output in engine.Step())
            {
                foreach (var delta in output.Deltas) outputTokens += delta.NewTokenIds.Count;
                if (!output.Finished) continue;
                cachedPromptTokens += output.CachedPromptTokens;
                finished++;
                onRequestDone?.Invoke();
            }
        }
        double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var after = engine.GetStats();
        if (finished != requests.Count)
            throw new InvalidOperationException($"the engine finished {finished} of {requests.Count} requests.");
        return new ThroughputResult(elapsed, requests.Count, after.PromptTokensTotal - before.PromptTokensTotal, outputTokens,
            cachedPromptTokens, after.NumPreemptions - before.NumPreemptions, startedAt)
        {
            SpecDecoding = after.SpecDecoding?.Since(before.SpecDecoding),
        };
    }

    /// <summary>vLLM's throughput sampling: n = 1, temperature 1, top_p 1, ignore_eos, max_tokens = the output length.</summary>
    public static SamplingParams SamplingFor(OfflineRequest request, long seed) => new()
    {
        Temperature = 1f,
        TopP = 1f,
        IgnoreEos = true,
        MaxTokens = request.OutputLen,
        Seed = seed,
    };

    /// <summary>A request longer than the context would stop early, and the token counts would lie: refuse it up front.</summary>
    private void CheckFits(OfflineRequest request, int index)
    {
        if (request.PromptTokenIds.Length == 0) throw new ArgumentException($"request {index} has an empty prompt.");
        if (request.OutputLen < 1) throw new ArgumentException($"request {index} asks for {request.OutputLen} output tokens; at least 1 is needed.");
        if (request.PromptTokenIds.Length + request.OutputLen > engine.MaxModelLen)
            throw new ArgumentException(
                $"request {index}: {request.PromptTokenIds.Length} prompt + {request.OutputLen} output tokens exceed the max model length {engine.MaxModelLen}: "
                + "lower --input-len / --output-len or raise --max-model-len / --kv-cache-memory.");
    }

    private static string RequestId(int index) => "throughput-" + index.ToString(CultureInfo.InvariantCulture);
}
