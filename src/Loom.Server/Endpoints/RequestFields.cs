using System.Text.Json;
using Loom.Core.Sampling;
using Loom.Engine.ChatClient;
using Loom.Server.Api;
using Loom.Server.Hosting;

namespace Loom.Server.Endpoints;

/// <summary>Request fields shared by chat and completions, turned into engine terms with the API's param names.</summary>
internal static class RequestFields
{
    /// <summary>404 unless the request names one of the served names (or no model at all).</summary>
    public static void CheckModel(ServerState state, ServedModel model, string? requested)
    {
        if (string.IsNullOrEmpty(requested)) return;
        foreach (var name in ServedNames(state, model))
            if (string.Equals(name, requested, StringComparison.Ordinal)) return;
        throw ApiException.ModelNotFound(requested);
    }

    public static IReadOnlyList<string> ServedNames(ServerState state, ServedModel model) =>
        state.Options.ServedModelNames.Count > 0 ? state.Options.ServedModelNames : [model.Name];

    /// <summary>"stop": a string or a list of strings.</summary>
    public static IReadOnlyList<string> ParseStop(JsonElement? stop)
    {
        if (stop is not { } s || s.ValueKind == JsonValueKind.Null) return [];
        if (s.ValueKind == JsonValueKind.String) return [s.GetString()!];
        if (s.ValueKind == JsonValueKind.Array && s.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            return s.EnumerateArray().Select(e => e.GetString()!).ToArray();
        throw ApiException.BadRequest("stop must be a string or a list of strings.", "stop");
    }

    /// <summary>
    /// The request's SamplingParams over the model's generation_config defaults, with the context window enforced:
    /// the prompt must leave room for one token, and an explicit max_tokens must fit beside it.
    /// </summary>
    public static SamplingParams BuildSampling(SamplingFields r, ServedModel model, int promptTokens,
        MaxTokensField maxTokens, int fallbackMaxTokens, int? logprobs, string promptParam)
    {
        int window = model.MaxModelLen;
        if (promptTokens >= window)
            throw ApiException.BadRequest(
                $"This model's maximum context length is {window} tokens. However, your prompt has {promptTokens} tokens, " +
                "leaving no room for output.", promptParam);
        if (maxTokens.Value is { } requested)
        {
            if (requested < 1) throw ApiException.BadRequest($"{maxTokens.Param} must be at least 1, got {requested}.", maxTokens.Param);
            long total = (long)promptTokens + requested; // long: max_tokens = int.MaxValue must not wrap past the check
            if (total > window)
                throw ApiException.BadRequest(
                    $"This model's maximum context length is {window} tokens. However, you requested {total} " +
                    $"tokens ({promptTokens} in the prompt, {requested} in the completion).", maxTokens.Param);
        }
        var p = GenerationDefaults.BaseParams(model.GenerationConfig);
        p = p with
        {
            N = r.N ?? 1,
            Temperature = r.Temperature ?? p.Temperature,
            TopP = r.TopP ?? p.TopP,
            TopK = r.TopK ?? p.TopK,
            MinP = r.MinP ?? p.MinP,
            PresencePenalty = r.PresencePenalty ?? p.PresencePenalty,
            FrequencyPenalty = r.FrequencyPenalty ?? p.FrequencyPenalty,
            RepetitionPenalty = r.RepetitionPenalty ?? p.RepetitionPenalty,
            Seed = r.Seed,
            Stop = ParseStop(r.Stop),
            StopTokenIds = r.StopTokenIds ?? [],
            IgnoreEos = r.IgnoreEos ?? false,
            MinTokens = r.MinTokens ?? 0,
            IncludeStopStrInOutput = r.IncludeStopStrInOutput ?? false,
            SkipSpecialTokens = r.SkipSpecialTokens ?? true,
            Logprobs = logprobs,
            LogitBias = ParseLogitBias(r.LogitBias, model.Tokenizer.VocabSize),
            MaxTokens = maxTokens.Value
                ?? GenerationDefaults.DefaultMaxTokens(model.GenerationConfig, fallbackMaxTokens, promptTokens, window),
        };
        return p.Validate();
    }

    /// <summary>"logit_bias": token ids as decimal strings, inside the vocabulary; the values are checked by SamplingParams.</summary>
    public static IReadOnlyDictionary<int, float>? ParseLogitBias(Dictionary<string, float>? bias, int vocabSize)
    {
        if (bias is null || bias.Count == 0) return null;
        if (bias.Count > SamplingParams.MaxLogitBiasEntries)
            throw ApiException.BadRequest($"logit_bias may hold at most {SamplingParams.MaxLogitBiasEntries} entries, got {bias.Count}.", "logit_bias");
        var parsed = new Dictionary<int, float>(bias.Count);
        foreach (var (key, value) in bias)
        {
            if (!int.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id)
                || id >= vocabSize)
                throw ApiException.BadRequest($"logit_bias key '{key}' is not a token id in the vocabulary [0, {vocabSize}).", "logit_bias");
            parsed[id] = value;
        }
        return parsed;
    }

    /// <summary>"cache_salt": when given, a non-empty string (vLLM refuses an empty one too).</summary>
    public static string? ParseCacheSalt(string? salt) =>
        salt is { Length: 0 } ? throw ApiException.BadRequest("cache_salt must not be empty.", "cache_salt") : salt;

    /// <summary>Usage with prompt_tokens_details.cached_tokens unless the server keeps cache hits private.</summary>
    public static Usage Usage(ServerOptions options, int promptTokens, int completionTokens, int cachedTokens) =>
        Api.Usage.Of(promptTokens, completionTokens, options.EnablePromptTokensDetails ? cachedTokens : null);

    /// <summary>Token ids must be inside the vocabulary.</summary>
    public static void CheckTokenIds(IReadOnlyList<int> ids, int vocabSize, string param)
    {
        for (int i = 0; i < ids.Count; i++)
            if ((uint)ids[i] >= (uint)vocabSize)
                throw ApiException.BadRequest($"Token id {ids[i]} at position {i} is outside the vocabulary [0, {vocabSize}).", param);
    }
}

/// <summary>max_tokens as sent (null when absent) and the field it came from, for error messages.</summary>
internal readonly record struct MaxTokensField(int? Value, string Param);
