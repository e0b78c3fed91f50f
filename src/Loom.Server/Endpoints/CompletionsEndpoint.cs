using System.Text.Json;
using Loom.Engine;
using Loom.Server.Api;
using Loom.Server.Hosting;
using Loom.Server.Metrics;
using Microsoft.AspNetCore.Http;

namespace Loom.Server.Endpoints;

/// <summary>
/// POST /v1/completions: prompt as a string, a list of strings, token ids or a list of token id lists.
/// Each prompt is one engine request; choice index = prompt index * n + sample index, as OpenAI numbers them.
/// </summary>
internal static partial class CompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext context, ServerState state, ServerMetrics metrics)
    {
        var model = state.RequireModel();
        var request = await JsonBody.ReadAsync(context, LoomJsonContext.Default.CompletionRequest);
        RequestFields.CheckModel(state, model, request.Model);
        RejectUnsupported(request);
        var kvTransfer = KvTransferFields.Parse(request.Extra, state, request.Stream == true);
        UnsupportedFields.Check(request.Extra, state.Logger);
        var grammar = StructuredOutputFields.Compile(model, request.Extra, out var grammarParam);
        await StructuredOutputFields.AwaitCompiledAsync(grammar, grammarParam!, context.RequestAborted);
        var prompts = await state.Tokenization.RunAsync(() => ParsePrompts(request, model, context.RequestAborted), context.RequestAborted);
        var id = "cmpl-" + Guid.NewGuid().ToString("N");
        var sampling = RequestFields.Sampling(request, model, promptParam: "prompt") with
        {
            FallbackMaxTokens = 16, // OpenAI's completions default
            Logprobs = request.Logprobs,
            // echo with logprobs scores the prompt too (OpenAI's legacy shape: the first token's logprob is null).
            PromptLogprobs = request.Echo == true ? request.Logprobs : null,
        };
        if (kvTransfer is not null && prompts.Count != 1)
            throw ApiException.BadRequest("kv_transfer_params needs a single prompt.", KvTransferFields.Name);
        if (kvTransfer?.DoRemoteDecode == true) sampling = sampling with { MaxTokens = 1 }; // prefill only: the decoder samples again
        var engineRequests = new EngineRequest[prompts.Count];
        for (int i = 0; i < prompts.Count; i++)
            engineRequests[i] = model.Input.Process(prompts.Count == 1 ? id : $"{id}-{i}", prompts[i].Ids, sampling) with
            {
                CacheSalt = RequestFields.ParseCacheSalt(request.CacheSalt),
                Grammar = grammar,
                KvTransfer = kvTransfer,
            };
        int n = engineRequests[0].Params.N;

        using var admission = state.Admit(n * prompts.Count);
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, state.AbortAll);
        var call = new CompletionCall(id, DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            request.Model ?? RequestFields.ServedNames(state, model)[0], n, prompts, request.Echo == true,
            request.Logprobs is not null, request.ReturnTokenIds == true, new LogprobFormatter(model.Tokenizer))
        {
            Options = state.Options,
            KvReply = held => KvTransferFields.Reply(state, model, id, held),
        };
        var outputs = GenerationStreams.Run(model.Engine, engineRequests, metrics, abort.Token);
        if (request.Stream == true)
            await StreamAsync(context, state, call, outputs, request.StreamOptions?.IncludeUsage == true, abort.Token);
        else
            await RespondWholeAsync(context, call, outputs, abort.Token);
    }

    private static void RejectUnsupported(CompletionRequest request)
    {
        if (request.Suffix is not null)
            throw ApiException.BadRequest("suffix is not supported.", "suffix");
        if (request.BestOf is { } bestOf && bestOf != (request.N ?? 1))
            throw ApiException.BadRequest("best_of other than n is not supported.", "best_of");
    }

    private static List<Prompt> ParsePrompts(CompletionRequest request, ServedModel model, CancellationToken cancellation)
    {
        if (request.Prompt is not { } p || p.ValueKind == JsonValueKind.Null)
            throw ApiException.BadRequest("prompt is required.", "prompt");
        bool addSpecial = request.AddSpecialTokens ?? true;
        var prompts = new List<Prompt>();
        if (p.ValueKind == JsonValueKind.String)
            prompts.Add(FromText(p.GetString()!, model, addSpecial, cancellation));
        else if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() == 0)
            throw ApiException.BadRequest("prompt must be a string, a list of strings, token ids or a list of token id lists, and not empty.", "prompt");
        else if (p.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            prompts.AddRange(p.EnumerateArray().Select(e => FromText(e.GetString()!, model, addSpecial, cancellation)));
        else if (p.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number))
            prompts.Add(FromIds(p, model, "prompt"));
        else if (p.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Array))
            prompts.AddRange(p.EnumerateArray().Select((e, i) => FromIds(e, model, $"prompt[{i}]")));
        else
            throw ApiException.BadRequest("prompt must not mix strings, numbers and lists.", "prompt");
        for (int i = 0; i < prompts.Count; i++)
            if (prompts[i].Ids.Length == 0)
                throw ApiException.BadRequest(prompts.Count == 1 ? "prompt is empty." : $"prompt[{i}] is empty.", "prompt");
        return prompts;
    }

    /// <summary>An empty string is refused even where the tokenizer would add a BOS: there is nothing to complete.</summary>
    private static Prompt FromText(string text, ServedModel model, bool addSpecial, CancellationToken cancellation) =>
        new(text, text.Length == 0 ? [] : model.Input.EncodeText(text, addSpecial, "prompt", cancellation));

    private static Prompt FromIds(JsonElement ids, ServedModel model, string param)
    {
        var result = new int[ids.GetArrayLength()];
        int i = 0;
        foreach (var e in ids.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out result[i]))
                throw ApiException.BadRequest($"{param} must hold integer token ids.", "prompt");
            i++;
        }
        model.Input.CheckTokenIds(result, "prompt");
        return new Prompt(model.Tokenizer.Decode(result), result);
    }

    /// <summary>One prompt: its text (for echo) and its token ids.</summary>
    private sealed record Prompt(string Text, int[] Ids);

    private sealed record CompletionCall(string Id, long Created, string Model, int N, IReadOnlyList<Prompt> Prompts,
        bool Echo, bool WantLogprobs, bool ReturnTokenIds, LogprobFormatter Logprobs)
    {
        public Prompt PromptOf(int choice) => Prompts[choice / N];
        /// <summary>Whether the prompt's own logprobs lead each choice's logprobs (echo with logprobs).</summary>
        public bool EchoLogprobs => Echo && WantLogprobs;
        public required ServerOptions Options { get; init; }
        /// <summary>Turns the held KV of a do_remote_decode request into the reply's kv_transfer_params.</summary>
        public required Func<Engine.KvTransfer.HeldKvBlocks, KvTransferParamsDto> KvReply { get; init; }
    }
}
