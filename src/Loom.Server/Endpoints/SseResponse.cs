using Loom.Server.Api;
using Loom.Server.Hosting;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

/// <summary>
/// The frame every streamed endpoint shares: the first engine output is awaited before the status line goes out (so
/// intake errors keep their status code), then the endpoint writes its events, a failure after that is reported
/// in-band as vLLM does (the status line is gone), and the stream ends with [DONE].
/// </summary>
internal static class SseResponse
{
    /// <summary>Writes one endpoint's events from <paramref name="outputs"/> (the first one included).</summary>
    public delegate Task EventWriter(SseWriter sse, IAsyncEnumerable<PromptOutput> outputs);

    public static async Task RunAsync(HttpContext context, ServerState state, IAsyncEnumerable<PromptOutput> outputs,
        EventWriter writeEvents, CancellationToken cancellationToken)
    {
        await using var e = outputs.GetAsyncEnumerator(cancellationToken);
        bool more = await e.MoveNextAsync();
        var sse = new SseWriter(context.Response);
        await sse.StartAsync(cancellationToken);
        try
        {
            await writeEvents(sse, Replay(e, more));
        }
        catch (Exception ex) when (ErrorMiddleware.ToApiException(ex, state) is { } error)
        {
            await sse.WriteAsync(new ErrorResponse(new ErrorBody(error.Message, error.Type, error.Param, error.Code)),
                LoomJsonContext.Default.ErrorResponse, context.RequestAborted);
        }
        await sse.WriteDoneAsync(context.RequestAborted);
    }

    /// <summary>The already-fetched first output, then the rest.</summary>
    private static async IAsyncEnumerable<PromptOutput> Replay(IAsyncEnumerator<PromptOutput> e, bool more)
    {
        for (; more; more = await e.MoveNextAsync()) yield return e.Current;
    }
}
