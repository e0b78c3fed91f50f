using Loom.Engine.Input;
using Loom.Engine.ToolCalls;
using Loom.Server.Api;
using Loom.Server.Hosting;
using Loom.Server.Metrics;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

/// <summary>POST /v1/chat/completions: the conversation rendered with the chat template, streamed or whole.</summary>
internal static partial class ChatCompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext context, ServerState state, ServerMetrics metrics)
    {
        var model = state.RequireModel();
        var request = await JsonBody.ReadAsync(context, LoomJsonContext.Default.ChatCompletionRequest);
        RequestFields.CheckModel(state, model, request.Model);
        var kvTransfer = KvTransferFields.Parse(request.Extra, state, request.Stream == true);
        UnsupportedFields.Check(request.Extra, state.Logger);
        var grammar = StructuredOutputFields.Compile(model, request.Extra, out var grammarParam);
        var tools = model.Input.PlanTools(ChatTools.Functions(request.Tools), ChatTools.Choice(request.ToolChoice), request.ParallelToolCalls);
        var promptIds = await state.Tokenization.RunAsync(() => EncodePrompt(model, request, tools, context.RequestAborted), context.RequestAborted);
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var constrained = model.Input.Process(id, promptIds, Sampling(model, request, kvTransfer)) with
        {
            CacheSalt = RequestFields.ParseCacheSalt(request.CacheSalt),
            Grammar = grammar,
            KvTransfer = kvTransfer,
        };
        var engineRequest = model.Input.ApplyTools(constrained, tools, request.SkipSpecialTokens);
        await StructuredOutputFields.AwaitCompiledAsync(engineRequest.Grammar,
            grammarParam ?? (tools.Choice.Mode == ToolChoiceMode.Auto ? "tools" : "tool_choice"), context.RequestAborted);
        int n = engineRequest.Params.N;

        using var admission = state.Admit(n);
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, state.AbortAll);
        var call = new ChatCall(id, DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            request.Model ?? RequestFields.ServedNames(state, model)[0], n, request.Logprobs == true,
            new LogprobFormatter(model.Tokenizer))
        {
            Options = state.Options,
            Tools = tools,
            KvReply = held => KvTransferFields.Reply(state, model, id, held),
        };
        var outputs = GenerationStreams.Run(model.Engine, [engineRequest], metrics, abort.Token);
        if (request.Stream == true)
            await StreamAsync(context, state, call, outputs, request.StreamOptions?.IncludeUsage == true, abort.Token);
        else
            await RespondWholeAsync(context, call, outputs, abort.Token);
    }

    private static int[] EncodePrompt(ServedModel model, ChatCompletionRequest request, ToolCallPlan tools, CancellationToken cancellation) =>
        model.Input.EncodeChat(ChatMessages.From(request.Messages), request.AddGenerationPrompt ?? true,
            request.ContinueFinalMessage ?? false, cancellation, tools.TemplateTools);

    private static SamplingRequest Sampling(ServedModel model, ChatCompletionRequest request, Engine.KvTransfer.KvTransferRequest? kvTransfer)
    {
        if (request.TopLogprobs is { } top)
        {
            if (request.Logprobs != true)
                throw ApiException.BadRequest("top_logprobs requires logprobs to be true.", "top_logprobs");
            if (top is < 0 or > 20)
                throw ApiException.BadRequest($"top_logprobs must be in [0, 20], got {top}.", "top_logprobs");
        }
        // Chat's default max_tokens is "the rest of the context window" (as vLLM), unless generation_config says less.
        return RequestFields.Sampling(request, model, promptParam: "messages") with
        {
            // A prefill for a remote decode runs the prompt and one token; the decoder samples from there.
            MaxTokens = kvTransfer?.DoRemoteDecode == true ? 1 : request.MaxCompletionTokens ?? request.MaxTokens,
            MaxTokensParam = request.MaxCompletionTokens is null ? "max_tokens" : "max_completion_tokens",
            Logprobs = request.Logprobs == true ? request.TopLogprobs ?? 0 : null,
        };
    }

    /// <summary>The identity of one chat call, shared by every chunk it sends.</summary>
    private sealed record ChatCall(string Id, long Created, string Model, int N, bool WantLogprobs, LogprobFormatter Logprobs)
    {
        public required ServerOptions Options { get; init; }
        public required ToolCallPlan Tools { get; init; }
        /// <summary>Turns the held KV of a do_remote_decode request into the reply's kv_transfer_params.</summary>
        public required Func<Engine.KvTransfer.HeldKvBlocks, KvTransferParamsDto> KvReply { get; init; }
    }
}
