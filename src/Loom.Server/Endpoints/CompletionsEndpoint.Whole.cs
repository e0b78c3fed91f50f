using System.Text;
using Loom.Server.Api;
using Loom.Server.Hosting;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

internal static partial class CompletionsEndpoint
{
    private static async Task RespondWholeAsync(HttpContext context, CompletionCall call, IAsyncEnumerable<PromptOutput> outputs,
        CancellationToken cancellationToken)
    {
        var choices = new ChoiceState[call.Choices];
        for (int c = 0; c < choices.Length; c++) choices[c] = new ChoiceState(call, c);
        var usage = new UsageTally(call.Prompts.Count);
        await foreach (var (promptIndex, output) in outputs.WithCancellation(cancellationToken))
        {
            usage.Record(promptIndex, output);
            if (call.EchoLogprobs && output.PromptLogprobs is { } promptLogprobs)
                for (int k = 0; k < call.N; k++)
                    call.Logprobs.AppendPrompt(promptLogprobs, call.PromptOf(call.ChoiceIndex(promptIndex, k)).Ids,
                        choices[call.ChoiceIndex(promptIndex, k)].Logprobs!);
            foreach (var delta in output.Deltas)
            {
                var choice = choices[call.ChoiceIndex(promptIndex, delta.Index)];
                choice.Text.Append(delta.NewText);
                choice.TokenIds.AddRange(delta.NewTokenIds);
                if (choice.Logprobs is not null && delta.NewLogprobs is { } lp)
                    call.Logprobs.AppendCompletion(lp, choice.Logprobs, ref choice.TextOffset);
                choice.FinishReason ??= delta.FinishReason;
                choice.StopReason ??= delta.StopReason;
            }
        }
        var result = choices.Select((c, i) => new CompletionChoice(i, c.Text.ToString(), c.Logprobs?.Build(), c.FinishReason ?? "abort")
        {
            StopReason = c.StopReason,
            PromptTokenIds = call.ReturnTokenIds ? call.PromptOf(i).Ids : null,
            TokenIds = call.ReturnTokenIds ? c.TokenIds : null,
        }).ToArray();
        await JsonBody.WriteAsync(context, new CompletionResponse(call.Id, "text_completion", call.Created, call.Model, result)
        {
            Usage = usage.ToUsage(call.Options),
        }, LoomJsonContext.Default.CompletionResponse);
    }

    /// <summary>What one choice has produced so far (whole responses only).</summary>
    private sealed class ChoiceState
    {
        public ChoiceState(CompletionCall call, int choice)
        {
            if (call.Echo) Text.Append(call.PromptOf(choice).Text);
            if (call.WantLogprobs) Logprobs = new CompletionLogprobBuilder();
            TextOffset = Text.Length;
        }

        public StringBuilder Text { get; } = new();
        public List<int> TokenIds { get; } = [];
        public CompletionLogprobBuilder? Logprobs { get; }
        public int TextOffset;
        public string? FinishReason { get; set; }
        public object? StopReason { get; set; }
    }

    /// <summary>Usage summed over the prompts of one call (each prompt's counts are cumulative per output).</summary>
    private sealed class UsageTally(int prompts)
    {
        private readonly int[] _promptTokens = new int[prompts];
        private readonly int[] _cachedTokens = new int[prompts];
        private int _completionTokens;

        public void Record(int promptIndex, Loom.Engine.RequestOutput output)
        {
            _promptTokens[promptIndex] = output.PromptTokens;
            _cachedTokens[promptIndex] = output.CachedPromptTokens;
            foreach (var delta in output.Deltas) _completionTokens += delta.NewTokenIds.Count;
        }

        public Usage ToUsage(ServerOptions options) =>
            RequestFields.Usage(options, _promptTokens.Sum(), _completionTokens, _cachedTokens.Sum());
    }
}
