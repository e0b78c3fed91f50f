using Loom.Engine;
using Loom.Server.Api;
using Loom.Server.Hosting;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

internal static partial class ChatCompletionsEndpoint
{
    /// <summary>
    /// SSE as OpenAI sends it: per choice a first chunk carrying the role, then content deltas, finish_reason on the
    /// choice's last chunk, an optional usage chunk with no choices, then [DONE] (framing in <see cref="SseResponse"/>).
    /// </summary>
    private static Task StreamAsync(HttpContext context, ServerState state, ChatCall call,
        IAsyncEnumerable<PromptOutput> outputs, bool includeUsage, CancellationToken cancellationToken) =>
        SseResponse.RunAsync(context, state, outputs, async (sse, stream) =>
        {
            var choices = new ChoiceAccumulator(prompts: 1, call.N, keepOutput: false);
            for (int i = 0; i < call.N; i++)
                await sse.WriteAsync(Chunk(call, new ChatChunkChoice(i, new ChatDelta { Role = "assistant", Content = "" }, null, null)),
                    LoomJsonContext.Default.ChatCompletionChunk, cancellationToken);
            await choices.ConsumeAsync(stream, onOutput: null, async (choice, delta) =>
            {
                if (ToChoice(call, choice, delta) is { } chunk)
                    await sse.WriteAsync(Chunk(call, chunk), LoomJsonContext.Default.ChatCompletionChunk, cancellationToken);
            }, cancellationToken);
            if (includeUsage)
                await sse.WriteAsync(Chunk(call) with { Usage = choices.ToUsage(call.Options) },
                    LoomJsonContext.Default.ChatCompletionChunk, cancellationToken);
        }, cancellationToken);

    /// <summary>A delta as a choice chunk, or null when it carries nothing a client would see.</summary>
    private static ChatChunkChoice? ToChoice(ChatCall call, int choice, CompletionDelta delta)
    {
        var logprobs = call.WantLogprobs && delta.NewLogprobs is { Count: > 0 } lp ? new ChatLogprobs(call.Logprobs.ToChat(lp)) : null;
        if (delta.NewText.Length == 0 && delta.FinishReason is null && logprobs is null) return null;
        var content = delta.NewText.Length > 0 || delta.FinishReason is null ? delta.NewText : null;
        return new ChatChunkChoice(choice, new ChatDelta { Content = content }, logprobs, delta.FinishReason);
    }

    private static ChatCompletionChunk Chunk(ChatCall call, params ChatChunkChoice[] choices) =>
        new(call.Id, "chat.completion.chunk", call.Created, call.Model, choices);
}
