using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Loom.Server.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Loom.Server.Endpoints;

/// <summary>
/// Reads a request body with the source-generated serializer. The body must say it is JSON (415 otherwise) and hold
/// valid text (<see cref="JsonText"/>, 400 otherwise); malformed JSON surfaces as JsonException (400).
/// </summary>
internal static class JsonBody
{
    public static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> typeInfo) where T : class
    {
        RequireJsonContentType(context.Request.ContentType);
        var body = await ReadAllAsync(context.Request, context.RequestAborted);
        JsonText.Check(body.Span);
        var value = JsonSerializer.Deserialize(body.Span, typeInfo);
        return value ?? throw ApiException.BadRequest("The request body must be a JSON object.");
    }

    public static async Task WriteAsync<T>(HttpContext context, T value, JsonTypeInfo<T> typeInfo)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, value, typeInfo, context.RequestAborted);
    }

    /// <summary>
    /// application/json, with no charset or UTF-8 (FastAPI's rule): a browser can POST text/plain across origins
    /// without a preflight, so accepting it would let any web page the operator opens drive the server.
    /// </summary>
    internal static void RequireJsonContentType(string? contentType)
    {
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var media)
            || !media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (media.Charset.HasValue && !media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)
                && !media.Charset.Equals("utf8", StringComparison.OrdinalIgnoreCase)))
            throw ApiException.UnsupportedMediaType(contentType);
    }

    /// <summary>The whole body (Kestrel enforces the body limit while it is read: 413).</summary>
    private static async Task<ReadOnlyMemory<byte>> ReadAllAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        int capacity = request.ContentLength is long length and > 0 and < int.MaxValue ? (int)length : 0;
        using var buffer = new MemoryStream(capacity);
        try
        {
            await request.Body.CopyToAsync(buffer, cancellationToken);
        }
        catch (IOException e) when (e.InnerException is OverflowException)
        {
            // Kestrel's chunked decoder reports a chunk size past 2^63 as an IOException, not as a bad request.
            throw ApiException.BadRequest("Bad chunk size in the chunked request body.");
        }
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }
}
