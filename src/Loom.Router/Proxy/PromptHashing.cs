using Loom.Router.Routing;
using Loom.Router.Signals;
using Microsoft.AspNetCore.Http;

namespace Loom.Router.Proxy;

/// <summary>
/// Before YARP picks a replica: buffers the request body (so a retry can send it again) and, for chat and completions
/// with a tokenizer loaded, attaches the prompt's <see cref="RoutedPrompt"/>. The block size is --block-size, else the
/// replicas' cache_config_info, else 16 (Loom's and vLLM's default).
/// </summary>
public sealed class PromptHashing(PromptReader? reader, ReplicaSignalPoller signals, int? blockSize)
{
    public const int DefaultBlockSize = 16;

    public async Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        var request = context.Request;
        request.EnableBuffering(); // every body, so a retry can rewind it
        if (reader is not null && HttpMethods.IsPost(request.Method) && request.Path.Value is "/v1/chat/completions" or "/v1/completions")
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body, context.RequestAborted);
            request.Body.Position = 0;
            int size = BlockSize();
            var prompt = reader.Read(request.Path.Value, body.GetBuffer().AsSpan(0, (int)body.Length));
            var blocks = prompt is { } p ? PromptBlocks.Of(p.Tokens, size, p.CacheSalt) : PromptBlocks.None;
            context.Features.Set(new RoutedPrompt(blocks, size));
        }
        await next();
    }

    private int BlockSize() => BlockSizeOf(blockSize, signals, signals.Addresses);

    /// <summary>--block-size when given, else the first replica's polled cache_config_info, else <see cref="DefaultBlockSize"/>.</summary>
    public static int BlockSizeOf(int? explicitSize, ReplicaSignalPoller signals, IEnumerable<string> replicas)
    {
        ArgumentNullException.ThrowIfNull(signals);
        ArgumentNullException.ThrowIfNull(replicas);
        if (explicitSize is { } size) return size;
        foreach (var address in replicas)
            if (signals.Get(address).BlockSize is { } polled and > 0) return polled;
        return DefaultBlockSize;
    }
}
