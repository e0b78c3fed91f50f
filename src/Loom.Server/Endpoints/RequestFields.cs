using System.Text.Json;
using Loom.Core.Sampling;
using Loom.Engine.Input;
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
    /// The sampling fields chat and completions share, in the input processor's terms (JSON shapes parsed here); it
    /// lays them over generation_config and applies the context-window rule.
    /// </summary>
    public static SamplingRequest Sampling(SamplingFields r, ServedModel model, string promptParam) => new()
    {
        PromptParam = promptParam,
        MaxTokens = r.MaxTokens,
        N = r.N,
        Temperature = r.Temperature,
        TopP = r.TopP,
        TopK = r.TopK,
        MinP = r.MinP,
        PresencePenalty = r.PresencePenalty,
        FrequencyPenalty = r.FrequencyPenalty,
        RepetitionPenalty = r.RepetitionPenalty,
        Seed = r.Seed,
        Stop = ParseStop(r.Stop),
        StopTokenIds = r.StopTokenIds,
        IgnoreEos = r.IgnoreEos,
        MinTokens = r.MinTokens,
        IncludeStopStrInOutput = r.IncludeStopStrInOutput,
        SkipSpecialTokens = r.SkipSpecialTokens,
        LogitBias = ParseLogitBias(r.LogitBias, model.Tokenizer.VocabSize),
    };

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
}
