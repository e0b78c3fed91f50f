using Loom.Core.Sampling;
using Loom.Engine;
using Loom.Engine.ChatClient;
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
        UnsupportedFields.Check(request.Extra, state.Logger);
        var promptIds = await state.Tokenization.RunAsync(() => EncodePrompt(model, request), context.RequestAborted);
        var sampling = BuildSampling(model, request, promptIds.Length);

        using var admission = state.Admit(sampling.N);
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, state.AbortAll);
        var call = new ChatCall("chatcmpl-" + Guid.NewGuid().ToString("N"), DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            request.Model ?? RequestFields.ServedNames(state, model)[0], sampling.N, request.Logprobs == true,
            new LogprobFormatter(model.Tokenizer)) { Options = state.Options };
        var engineRequest = new EngineRequest(call.Id, promptIds, sampling) { CacheSalt = RequestFields.ParseCacheSalt(request.CacheSalt) };
        var outputs = GenerationStreams.Run(model.Engine, [engineRequest], metrics, abort.Token);
        if (request.Stream == true)
            await StreamAsync(context, state, call, outputs, request.StreamOptions?.IncludeUsage == true, abort.Token);
        else
            await RespondWholeAsync(context, call, outputs, abort.Token);
    }

    private static int[] EncodePrompt(ServedModel model, ChatCompletionRequest request)
    {
        var messages = ChatMessages.From(request.Messages);
        try
        {
            var text = model.ChatPrompt.Render(messages, request.AddGenerationPrompt ?? true, request.ContinueFinalMessage ?? false);
            return PromptEncoder.Encode(model, text, addSpecialTokens: false, "messages"); // as ChatPrompt.Encode, bounded
        }
        catch (ChatPromptException e)
        {
            throw ApiException.BadRequest(e.Message, e.Param);
        }
    }

    private static SamplingParams BuildSampling(ServedModel model, ChatCompletionRequest request, int promptTokens)
    {
        if (request.TopLogprobs is { } top)
        {
            if (request.Logprobs != true)
                throw ApiException.BadRequest("top_logprobs requires logprobs to be true.", "top_logprobs");
            if (top is < 0 or > 20)
                throw ApiException.BadRequest($"top_logprobs must be in [0, 20], got {top}.", "top_logprobs");
        }
        var maxTokens = request.MaxCompletionTokens is { } mct
            ? new MaxTokensField(mct, "max_completion_tokens")
            : new MaxTokensField(request.MaxTokens, "max_tokens");
        int? logprobs = request.Logprobs == true ? request.TopLogprobs ?? 0 : null;
        // Chat's default max_tokens is "the rest of the context window" (as vLLM), unless generation_config says less.
        return RequestFields.BuildSampling(request, model, promptTokens, maxTokens,
            fallbackMaxTokens: model.MaxModelLen - promptTokens, logprobs, promptParam: "messages");
    }

    /// <summary>The identity of one chat call, shared by every chunk it sends.</summary>
    private sealed record ChatCall(string Id, long Created, string Model, int N, bool WantLogprobs, LogprobFormatter Logprobs)
    {
        public required ServerOptions Options { get; init; }
    }
}
