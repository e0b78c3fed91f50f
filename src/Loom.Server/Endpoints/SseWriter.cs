using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

/// <summary>
/// Server-Sent Events exactly as OpenAI sends them: <c>data: {json}\n\n</c> per event, <c>data: [DONE]\n\n</c> last.
/// Events are serialized straight into the response pipe through one reused Utf8JsonWriter and flushed at once.
/// </summary>
internal sealed class SseWriter(HttpResponse response)
{
    private static ReadOnlySpan<byte> DataPrefix => "data: "u8;
    private static ReadOnlySpan<byte> EventEnd => "\n\n"u8;
    private static ReadOnlySpan<byte> Done => "data: [DONE]\n\n"u8;

    private Utf8JsonWriter? _json;

    public bool Started => response.HasStarted;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        response.StatusCode = 200;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.StartAsync(cancellationToken);
        await response.BodyWriter.FlushAsync(cancellationToken); // the headers leave now, not with the first event
    }

    public async ValueTask WriteAsync<T>(T value, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        var pipe = response.BodyWriter;
        pipe.Write(DataPrefix);
        if (_json is null) _json = new Utf8JsonWriter(pipe);
        else _json.Reset(pipe);
        JsonSerializer.Serialize(_json, value, typeInfo);
        _json.Flush();
        pipe.Write(EventEnd);
        await pipe.FlushAsync(cancellationToken);
    }

    public async ValueTask WriteDoneAsync(CancellationToken cancellationToken)
    {
        response.BodyWriter.Write(Done);
        await response.BodyWriter.FlushAsync(cancellationToken);
    }
}
