using System.Text;
using Loom.Server.Api;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

internal static partial class ChatCompletionsEndpoint
{
    private static async Task RespondWholeAsync(HttpContext context, ChatCall call, IAsyncEnumerable<PromptOutput> outputs,
        CancellationToken cancellationToken)
    {
        var texts = new StringBuilder[call.N];
        var logprobs = new List<ChatTokenLogprob>?[call.N];
        var finish = new string?[call.N];
        for (int i = 0; i < call.N; i++)
        {
            texts[i] = new StringBuilder();
            if (call.WantLogprobs) logprobs[i] = [];
        }
        int promptTokens = 0, cachedTokens = 0, completionTokens = 0;
        await foreach (var (_, output) in outputs.WithCancellation(cancellationToken))
        {
            promptTokens = output.PromptTokens;
            cachedTokens = output.CachedPromptTokens;
            foreach (var delta in output.Deltas)
            {
                texts[delta.Index].Append(delta.NewText);
                completionTokens += delta.NewTokenIds.Count;
                if (delta.NewLogprobs is { } lp) logprobs[delta.Index]?.AddRange(call.Logprobs.ToChat(lp));
                finish[delta.Index] ??= delta.FinishReason;
            }
        }
        var choices = new ChatChoice[call.N];
        for (int i = 0; i < call.N; i++)
            choices[i] = new ChatChoice(i, new ChatResponseMessage("assistant", texts[i].ToString()),
                logprobs[i] is { } l ? new ChatLogprobs(l) : null, finish[i] ?? "abort");
        var usage = RequestFields.Usage(call.Options, promptTokens, completionTokens, cachedTokens);
        await JsonBody.WriteAsync(context, new ChatCompletionResponse(call.Id, "chat.completion", call.Created, call.Model, choices, usage),
            LoomJsonContext.Default.ChatCompletionResponse);
    }
}
