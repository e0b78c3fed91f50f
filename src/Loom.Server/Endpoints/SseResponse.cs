using Loom.Server.Api;
using Loom.Server.Hosting;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

/// <summary>
/// The frame every streamed endpoint shares: the status line and SSE headers go out (flushed) as soon as the request
/// is admitted, as vLLM sends them, so a client queued behind other requests sees its stream open at once. Every
/// failure after that (the engine's intake refusals included) is reported in-band as an error event, and the stream
/// ends with [DONE].
/// </summary>
internal static class SseResponse
{
    /// <summary>Writes one endpoint's events from <paramref name="outputs"/>.</summary>
    public delegate Task EventWriter(SseWriter sse, IAsyncEnumerable<PromptOutput> outputs);

    public static async Task RunAsync(HttpContext context, ServerState state, IAsyncEnumerable<PromptOutput> outputs,
        EventWriter writeEvents, CancellationToken cancellationToken)
    {
        var sse = new SseWriter(context.Response);
        await sse.StartAsync(cancellationToken);
        try
        {
            await writeEvents(sse, outputs);
        }
        catch (Exception ex) when (ErrorMiddleware.ToApiException(ex, state) is { } error)
        {
            if (error.Status >= 500) state.Logger.LogStreamError(ex, context.Request.Path);
            await sse.WriteAsync(new ErrorResponse(new ErrorBody(error.Message, error.Type, error.Param, error.Code)),
                LoomJsonContext.Default.ErrorResponse, context.RequestAborted);
        }
        await sse.WriteDoneAsync(context.RequestAborted);
    }
}
