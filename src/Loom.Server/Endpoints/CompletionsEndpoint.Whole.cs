using Loom.Server.Api;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

internal static partial class CompletionsEndpoint
{
    private static async Task RespondWholeAsync(HttpContext context, CompletionCall call, IAsyncEnumerable<PromptOutput> outputs,
        CancellationToken cancellationToken)
    {
        var choices = new ChoiceAccumulator(call.Prompts.Count, call.N, keepOutput: true);
        var logprobs = new CompletionLogprobBuilder?[choices.Count];
        var textOffsets = new int[choices.Count]; // where each choice's next logprob token starts in its text
        for (int c = 0; c < choices.Count; c++)
        {
            if (call.Echo) choices[c].Text!.Append(call.PromptOf(c).Text);
            if (call.WantLogprobs) logprobs[c] = new CompletionLogprobBuilder();
            textOffsets[c] = choices[c].Text!.Length;
        }
        Engine.KvTransfer.HeldKvBlocks? held = null;
        await choices.ConsumeAsync(outputs, output =>
        {
            held ??= output.Output.HeldKv;
            if (call.EchoLogprobs && output.Output.PromptLogprobs is { } promptLogprobs)
                for (int k = 0; k < call.N; k++)
                {
                    int c = choices.ChoiceIndex(output.PromptIndex, k);
                    call.Logprobs.AppendPrompt(promptLogprobs, call.PromptOf(c).Ids, logprobs[c]!);
                }
            return default;
        }, (c, delta) =>
        {
            if (logprobs[c] is { } builder && delta.NewLogprobs is { } lp) call.Logprobs.AppendCompletion(lp, builder, ref textOffsets[c]);
            return default;
        }, cancellationToken);
        var result = new CompletionChoice[choices.Count];
        for (int c = 0; c < result.Length; c++)
            result[c] = new CompletionChoice(c, choices[c].Text!.ToString(), logprobs[c]?.Build(), choices[c].FinalReason)
            {
                StopReason = choices[c].StopReason,
                PromptTokenIds = call.ReturnTokenIds ? call.PromptOf(c).Ids : null,
                TokenIds = call.ReturnTokenIds ? choices[c].TokenIds : null,
            };
        await JsonBody.WriteAsync(context, new CompletionResponse(call.Id, "text_completion", call.Created, call.Model, result)
        {
            Usage = choices.ToUsage(call.Options),
            KvTransferParams = held is null ? null : call.KvReply(held),
        }, LoomJsonContext.Default.CompletionResponse);
    }
}
