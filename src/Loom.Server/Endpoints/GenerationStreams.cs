using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Loom.Core.Requests;
using Loom.Engine;
using Loom.Server.Metrics;

namespace Loom.Server.Endpoints;

/// <summary>One engine output tagged with the prompt (of a multi-prompt completions call) it belongs to.</summary>
internal readonly record struct PromptOutput(int PromptIndex, RequestOutput Output);

/// <summary>
/// Runs the engine requests of one API call and yields their outputs as they come, timing each for the
/// latency histograms. Several prompts run concurrently and their outputs are interleaved.
/// Cancelling aborts every request of the call in the engine.
/// </summary>
internal static class GenerationStreams
{
    public static IAsyncEnumerable<PromptOutput> Run(IEngineClient engine, IReadOnlyList<EngineRequest> requests,
        ServerMetrics metrics, CancellationToken cancellationToken) =>
        requests.Count == 1
            ? RunOne(engine, requests[0], 0, metrics, cancellationToken)
            : RunMany(engine, requests, metrics, cancellationToken);

    private static async IAsyncEnumerable<PromptOutput> RunOne(IEngineClient engine, EngineRequest request, int promptIndex,
        ServerMetrics metrics, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var timing = new RequestTiming();
        FinishReason? finishReason = null;
        try
        {
            await foreach (var output in engine.GenerateAsync(request, cancellationToken).ConfigureAwait(false))
            {
                int newTokens = 0;
                foreach (var delta in output.Deltas)
                {
                    newTokens += delta.NewTokenIds.Count;
                    finishReason ??= delta.FinishReason;
                }
                timing.OnTokens(newTokens);
                yield return new PromptOutput(promptIndex, output);
                if (output.Finished) yield break;
            }
        }
        finally
        {
            metrics.ObserveRequest(timing, finishReason ?? FinishReason.Abort);
        }
    }

    private static async IAsyncEnumerable<PromptOutput> RunMany(IEngineClient engine, IReadOnlyList<EngineRequest> requests,
        ServerMetrics metrics, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channel = Channel.CreateUnbounded<PromptOutput>(new UnboundedChannelOptions { SingleReader = true });
        var pumps = new Task[requests.Count];
        for (int i = 0; i < requests.Count; i++) pumps[i] = PumpAsync(i);
        _ = Task.WhenAll(pumps).ContinueWith(_ => channel.Writer.TryComplete(), TaskScheduler.Default);
        try
        {
            await foreach (var item in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                yield return item;
        }
        finally
        {
            await stop.CancelAsync();
            try { await Task.WhenAll(pumps).ConfigureAwait(false); }
            catch (OperationCanceledException) { }
        }

        async Task PumpAsync(int index)
        {
            try
            {
                await foreach (var item in RunOne(engine, requests[index], index, metrics, stop.Token).ConfigureAwait(false))
                    await channel.Writer.WriteAsync(item, stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
            {
                channel.Writer.TryComplete(e); // the reader rethrows; the finally above aborts the other prompts
            }
        }
    }
}
