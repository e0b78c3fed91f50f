using System.Text.Json;
using Loom.Core.Scheduling;
using Loom.Engine;
using Loom.Server.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Loom.Server.Hosting;

/// <summary>
/// Turns every refusal into OpenAI's error shape with its status. Exceptions after a streamed response has
/// started are handled by the stream itself (an error event), since the status line is already sent.
/// </summary>
internal static class ErrorMiddleware
{
    public static async Task InvokeAsync(HttpContext context, Func<Task> next, ServerState state, ILogger logger)
    {
        try
        {
            await next();
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            var error = ToApiException(e, state);
            if (error is null) return; // the client went away: nobody to answer
            if (error.Status == 500) logger.LogError(e, "Unhandled error in {Path}", context.Request.Path);
            await WriteAsync(context, error);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // Client disconnected mid-stream; the engine request was aborted through RequestAborted.
        }
    }

    public static ApiException? ToApiException(Exception e, ServerState state) => e switch
    {
        ApiException api => api,
        EngineDeadException dead => ApiException.EngineDead(dead.InnerException?.Message ?? dead.Message),
        BadHttpRequestException { StatusCode: 413 } => ApiException.TooLarge(state.MaxRequestBodyBytes),
        BadHttpRequestException bad => ApiException.BadRequest(bad.Message),
        JsonException json => ApiException.BadRequest(DescribeJsonError(json), IsSyntaxError(json) ? null : ParamFromPath(json.Path)),
        RequestRejectedException rejected => new ApiException(400, "invalid_request_error", rejected.Message, rejected.ParamName, rejected.Code),
        ArgumentException arg => ApiException.BadRequest(StripParamSuffix(arg), arg.ParamName),
        OperationCanceledException when state.AbortAll.IsCancellationRequested =>
            ApiException.Unavailable("The server shut down before the request finished.", "server_draining", state.Options.RetryAfterSeconds),
        OperationCanceledException => null,
        Loom.Tokenizers.TokenizerTimeoutException slow => new ApiException(500, "internal_error", slow.Message, null, "tokenizer_timeout"),
        _ => new ApiException(500, "internal_error", "Internal server error: " + e.Message),
    };

    /// <summary>A server-side failure inside a stream that has already sent its status line (logged like a 500).</summary>
    public static void LogStreamError(this ILogger logger, Exception e, PathString path) =>
        logger.LogError(e, "Unhandled error in the stream of {Path}", path);

    public static async Task WriteAsync(HttpContext context, ApiException error)
    {
        context.Response.Clear();
        context.Response.StatusCode = error.Status;
        if (error.RetryAfterSeconds is { } seconds) context.Response.Headers.RetryAfter = seconds.ToString();
        context.Response.ContentType = "application/json";
        var body = new ErrorResponse(new ErrorBody(error.Message, error.Type, error.Param, error.Code));
        await JsonSerializer.SerializeAsync(context.Response.Body, body, LoomJsonContext.Default.ErrorResponse);
    }

    /// <summary>Malformed JSON (the reader failed) names no field; a value of the wrong type names its field.</summary>
    private static bool IsSyntaxError(JsonException e) => e.InnerException?.GetType().Name == "JsonReaderException";

    private static string DescribeJsonError(JsonException e)
    {
        var param = IsSyntaxError(e) ? null : ParamFromPath(e.Path);
        var detail = e.Message.Split(" Path:", 2)[0];
        if (JsonTypeWords.ExpectedType(detail) is { } expected)
            return param is null ? $"The request body must be {expected}." : $"Invalid value for '{param}': expected {expected}.";
        return param is null ? "Malformed JSON body: " + detail : $"Invalid value for '{param}': {detail}";
    }

    /// <summary>"$.messages[0].role" -> "messages[0].role"; "$" or null -> null.</summary>
    internal static string? ParamFromPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return null;
        return path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
    }

    /// <summary>ArgumentException appends " (Parameter 'x')" to its message; the API puts that in "param".</summary>
    private static string StripParamSuffix(ArgumentException e)
    {
        var message = e.Message;
        int at = e.ParamName is null ? -1 : message.LastIndexOf($" (Parameter '{e.ParamName}')", StringComparison.Ordinal);
        return at < 0 ? message : message[..at];
    }
}
