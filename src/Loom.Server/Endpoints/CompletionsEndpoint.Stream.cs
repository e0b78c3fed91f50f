using Loom.Core.Sampling;
using Loom.Engine;
using Loom.Server.Api;
using Loom.Server.Hosting;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

internal static partial class CompletionsEndpoint
{
    /// <summary>
    /// SSE text_completion chunks, one per choice delta (echoed prompts first), an optional usage chunk, then [DONE]
    /// (framing in <see cref="SseResponse"/>).
    /// </summary>
    private static Task StreamAsync(HttpContext context, ServerState state, CompletionCall call,
        IAsyncEnumerable<PromptOutput> outputs, bool includeUsage, CancellationToken cancellationToken) =>
        SseResponse.RunAsync(context, state, outputs, async (sse, stream) =>
        {
            var choices = new ChoiceAccumulator(call.Prompts.Count, call.N, keepOutput: false);
            var textOffsets = new int[choices.Count];
            var sentPromptIds = new bool[choices.Count];
            if (call.Echo)
                for (int c = 0; c < choices.Count; c++)
                {
                    textOffsets[c] = call.PromptOf(c).Text.Length;
                    if (!call.EchoLogprobs) await sse.WriteAsync(EchoChunk(call, c, null), LoomJsonContext.Default.CompletionResponse, cancellationToken);
                }
            await choices.ConsumeAsync(stream, async output =>
            {
                if (!call.EchoLogprobs || output.Output.PromptLogprobs is not { } promptLogprobs) return;
                for (int k = 0; k < call.N; k++) // the echo waits for the prompt's logprobs, which come in its first output
                    await sse.WriteAsync(EchoChunk(call, choices.ChoiceIndex(output.PromptIndex, k), promptLogprobs),
                        LoomJsonContext.Default.CompletionResponse, cancellationToken);
            }, async (c, delta) =>
            {
                if (ToChoice(call, c, delta, ref textOffsets[c], ref sentPromptIds[c]) is { } choice)
                    await sse.WriteAsync(Chunk(call, choice), LoomJsonContext.Default.CompletionResponse, cancellationToken);
            }, cancellationToken);
            if (includeUsage)
                await sse.WriteAsync(new CompletionResponse(call.Id, "text_completion", call.Created, call.Model, [])
                {
                    Usage = choices.ToUsage(call.Options),
                }, LoomJsonContext.Default.CompletionResponse, cancellationToken);
        }, cancellationToken);

    private static CompletionChoice? ToChoice(CompletionCall call, int choice, CompletionDelta delta, ref int textOffset,
        ref bool sentPromptIds)
    {
        CompletionLogprobs? logprobs = null;
        if (call.WantLogprobs && delta.NewLogprobs is { Count: > 0 } lp)
        {
            var builder = new CompletionLogprobBuilder();
            call.Logprobs.AppendCompletion(lp, builder, ref textOffset);
            logprobs = builder.Build();
        }
        else
        {
            textOffset += delta.NewText.Length;
        }
        bool carriesIds = call.ReturnTokenIds && delta.NewTokenIds.Count > 0;
        if (delta.NewText.Length == 0 && delta.FinishReason is null && logprobs is null && !carriesIds) return null;
        bool firstWithIds = call.ReturnTokenIds && !sentPromptIds;
        sentPromptIds |= firstWithIds;
        return new CompletionChoice(choice, delta.NewText, logprobs, delta.FinishReason)
        {
            StopReason = delta.StopReason,
            PromptTokenIds = firstWithIds ? call.PromptOf(choice).Ids : null,
            TokenIds = call.ReturnTokenIds ? delta.NewTokenIds : null,
        };
    }

    private static CompletionResponse EchoChunk(CompletionCall call, int choice, IReadOnlyList<TokenLogprob?>? promptLogprobs)
    {
        CompletionLogprobs? logprobs = null;
        if (promptLogprobs is not null)
        {
            var builder = new CompletionLogprobBuilder();
            call.Logprobs.AppendPrompt(promptLogprobs, call.PromptOf(choice).Ids, builder);
            logprobs = builder.Build();
        }
        return Chunk(call, new CompletionChoice(choice, call.PromptOf(choice).Text, logprobs, null));
    }

    private static CompletionResponse Chunk(CompletionCall call, CompletionChoice choice) =>
        new(call.Id, "text_completion", call.Created, call.Model, [choice]);
}
