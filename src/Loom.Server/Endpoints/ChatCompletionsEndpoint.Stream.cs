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
            var toolStreams = ChatToolOutput.Streams(call.Tools, call.N);
            for (int i = 0; i < call.N; i++)
                await sse.WriteAsync(Chunk(call, new ChatChunkChoice(i, new ChatDelta { Role = "assistant", Content = "" }, null, null)),
                    LoomJsonContext.Default.ChatCompletionChunk, cancellationToken);
            await choices.ConsumeAsync(stream, onOutput: null, async (choice, delta) =>
            {
                foreach (var chunk in ToChoices(call, choice, delta, toolStreams?[choice]))
                    await sse.WriteAsync(Chunk(call, chunk), LoomJsonContext.Default.ChatCompletionChunk, cancellationToken);
            }, cancellationToken);
            if (includeUsage)
                await sse.WriteAsync(Chunk(call) with { Usage = choices.ToUsage(call.Options) },
                    LoomJsonContext.Default.ChatCompletionChunk, cancellationToken);
        }, cancellationToken);

    /// <summary>
    /// A delta as choice chunks: its content (what the tool-call stream released of it, when calls are read), then
    /// each call piece it released (a call's name chunk, then its arguments in one or more chunks); none when it carries
    /// nothing a client would see.
    /// </summary>
    private static IEnumerable<ChatChunkChoice> ToChoices(ChatCall call, int choice, CompletionDelta delta, ChatToolOutput.Stream? tools)
    {
        var logprobs = call.WantLogprobs && delta.NewLogprobs is { Count: > 0 } lp ? new ChatLogprobs(call.Logprobs.ToChat(lp)) : null;
        var (text, calls, finish) = tools is null ? (delta.NewText, [], delta.FinishReason) : tools.Add(delta);
        if (calls.Count == 0)
        {
            if (text.Length == 0 && finish is null && logprobs is null) yield break;
            var content = text.Length > 0 || finish is null ? text : null;
            yield return new ChatChunkChoice(choice, new ChatDelta { Content = content }, logprobs, finish);
            yield break;
        }
        if (text.Length > 0 || logprobs is not null)
            yield return new ChatChunkChoice(choice, new ChatDelta { Content = text }, logprobs, null);
        foreach (var piece in calls)
            yield return new ChatChunkChoice(choice, new ChatDelta { ToolCalls = [piece] }, null, null);
        if (finish is not null) yield return new ChatChunkChoice(choice, new ChatDelta(), null, finish);
    }

    private static ChatCompletionChunk Chunk(ChatCall call, params ChatChunkChoice[] choices) =>
        new(call.Id, "chat.completion.chunk", call.Created, call.Model, choices);
}
