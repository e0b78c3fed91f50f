using Loom.Server.Api;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

internal static partial class ChatCompletionsEndpoint
{
    private static async Task RespondWholeAsync(HttpContext context, ChatCall call, IAsyncEnumerable<PromptOutput> outputs,
        CancellationToken cancellationToken)
    {
        var choices = new ChoiceAccumulator(prompts: 1, call.N, keepOutput: true);
        var logprobs = new List<ChatTokenLogprob>?[call.N];
        if (call.WantLogprobs)
            for (int i = 0; i < call.N; i++) logprobs[i] = [];
        Engine.KvTransfer.HeldKvBlocks? held = null;
        await choices.ConsumeAsync(outputs, output =>
        {
            held ??= output.Output.HeldKv;
            return default;
        }, (choice, delta) =>
        {
            if (delta.NewLogprobs is { } lp) logprobs[choice]?.AddRange(call.Logprobs.ToChat(lp));
            return default;
        }, cancellationToken);
        var result = new ChatChoice[call.N];
        for (int i = 0; i < call.N; i++)
        {
            var (message, reason) = ChatToolOutput.Message(call.Tools, choices[i].Text!.ToString(), choices[i].FinalReason);
            result[i] = new ChatChoice(i, message, logprobs[i] is { } l ? new ChatLogprobs(l) : null, reason);
        }
        await JsonBody.WriteAsync(context,
            new ChatCompletionResponse(call.Id, "chat.completion", call.Created, call.Model, result, choices.ToUsage(call.Options))
            {
                KvTransferParams = held is null ? null : call.KvReply(held),
            },
            LoomJsonContext.Default.ChatCompletionResponse);
    }
}
