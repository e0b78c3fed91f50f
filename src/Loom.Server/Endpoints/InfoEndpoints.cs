using Loom.Engine.ToolCalls;
using Loom.Server.Api;
using Loom.Server.Hosting;
using Loom.Server.Metrics;
using Loom.Tokenizers;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

/// <summary>GET /v1/models, POST /tokenize and /detokenize (vLLM's shapes), GET /health, GET /metrics.</summary>
internal static class InfoEndpoints
{
    public static Task ModelsAsync(HttpContext context, ServerState state)
    {
        var model = state.RequireModel();
        state.RejectIfDraining();
        var created = model.Created.ToUnixTimeSeconds();
        var cards = RequestFields.ServedNames(state, model)
            .Select(name => new ModelCard(name, "model", created, "loom", model.Name, model.MaxModelLen) { VocabSize = model.Tokenizer.VocabSize })
            .ToArray();
        return JsonBody.WriteAsync(context, new ModelList("list", cards), LoomJsonContext.Default.ModelList);
    }

    public static async Task TokenizeAsync(HttpContext context, ServerState state)
    {
        var model = state.RequireModel();
        var request = await JsonBody.ReadAsync(context, LoomJsonContext.Default.TokenizeRequest);
        RequestFields.CheckModel(state, model, request.Model);
        // vLLM's /tokenize counts prompts of any length (its answer carries max_model_len for the client to compare);
        // the body limit and the tokenization gate bound what that costs.
        var ids = await state.Tokenization.RunAsync(() => TokenizeIds(model, request, context.RequestAborted), context.RequestAborted);
        var strs = request.ReturnTokenStrs == true ? ids.Select(model.Tokenizer.IdToToken).ToArray() : null;
        await JsonBody.WriteAsync(context, new TokenizeResponse(ids.Length, model.MaxModelLen, ids) { TokenStrs = strs },
            LoomJsonContext.Default.TokenizeResponse);
    }

    private static int[] TokenizeIds(ServedModel model, TokenizeRequest request, CancellationToken cancellation)
    {
        if (request.Messages is null)
        {
            var prompt = request.Prompt ?? throw ApiException.BadRequest("prompt or messages is required.", "prompt");
            return model.Tokenizer.Encode(prompt, new EncodeOptions(request.AddSpecialTokens ?? true, Cancellation: cancellation));
        }
        if (request.Prompt is not null)
            throw ApiException.BadRequest("Give either prompt or messages, not both.", "prompt");
        var messages = ChatMessages.From(request.Messages); // a ChatPromptException is a 400 naming the field
        // The tools are listed as chat completions lists them; no output is read here, so no parser is needed.
        var tools = model.Input.PlanTools(ChatTools.Functions(request.Tools), ToolChoice.None, parallelToolCalls: null);
        var text = model.ChatPrompt.Render(messages, request.AddGenerationPrompt ?? true, request.ContinueFinalMessage ?? false,
            tools.TemplateTools);
        return model.Tokenizer.Encode(text, new EncodeOptions(request.AddSpecialTokens ?? false, Cancellation: cancellation));
    }

    public static async Task DetokenizeAsync(HttpContext context, ServerState state)
    {
        var model = state.RequireModel();
        var request = await JsonBody.ReadAsync(context, LoomJsonContext.Default.DetokenizeRequest);
        RequestFields.CheckModel(state, model, request.Model);
        var tokens = request.Tokens ?? throw ApiException.BadRequest("tokens is required.", "tokens");
        model.Input.CheckTokenIds(tokens, "tokens");
        await JsonBody.WriteAsync(context, new DetokenizeResponse(model.Tokenizer.Decode(tokens.ToArray())),
            LoomJsonContext.Default.DetokenizeResponse);
    }

    /// <summary>200 while serving; 503 while loading or draining (load balancers stop sending), or once the engine died.</summary>
    public static Task HealthAsync(HttpContext context, ServerState state)
    {
        state.RequireModel();
        state.RejectIfDraining();
        context.Response.StatusCode = 200;
        return Task.CompletedTask;
    }

    public static async Task MetricsAsync(HttpContext context, ServerMetrics metrics)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
    }
}
