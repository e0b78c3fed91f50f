using System.Text.Json;
using System.Text.Json.Serialization;

namespace Loom.Server.Api;

public sealed class StreamOptions
{
    public bool? IncludeUsage { get; set; }
}

public sealed record PromptTokensDetails(int CachedTokens);

/// <summary>
/// vLLM's kv_transfer_params in a prefill reply: where a decode instance pulls the prompt's KV from (see
/// Endpoints.KvTransferFields for the request side).
/// </summary>
public sealed record KvTransferParamsDto
{
    public bool DoRemoteDecode { get; init; }
    public bool DoRemotePrefill { get; init; }
    public string? RemoteEngineId { get; init; }
    public string? RemoteRequestId { get; init; }
    public IReadOnlyList<int>? RemoteBlockIds { get; init; }
    public string? RemoteHost { get; init; }
    public int? RemotePort { get; init; }
    /// <summary>Prompt tokens whose KV the blocks hold.</summary>
    public int? RemoteNumTokens { get; init; }
}

/// <summary>Token counts of a response; prompt_tokens_details is left out when the server is told not to report cache hits.</summary>
public sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] PromptTokensDetails? PromptTokensDetails)
{
    /// <param name="cachedTokens">Prompt tokens served from the prefix cache; null = do not report them.</param>
    public static Usage Of(int promptTokens, int completionTokens, int? cachedTokens) =>
        new(promptTokens, completionTokens, promptTokens + completionTokens,
            cachedTokens is { } cached ? new PromptTokensDetails(cached) : null);
}

/// <summary>
/// The sampling fields chat and completions requests share (OpenAI's names plus vLLM's extensions).
/// Absent fields keep the model's generation_config defaults.
/// </summary>
public abstract class SamplingFields
{
    public string? Model { get; set; }
    public int? N { get; set; }
    public bool? Stream { get; set; }
    public StreamOptions? StreamOptions { get; set; }
    /// <summary>A string or a list of strings.</summary>
    public JsonElement? Stop { get; set; }
    public int? MaxTokens { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    public int? TopK { get; set; }
    public float? MinP { get; set; }
    public float? PresencePenalty { get; set; }
    public float? FrequencyPenalty { get; set; }
    public float? RepetitionPenalty { get; set; }
    public long? Seed { get; set; }
    public List<int>? StopTokenIds { get; set; }
    public bool? IgnoreEos { get; set; }
    public int? MinTokens { get; set; }
    public bool? IncludeStopStrInOutput { get; set; }
    public bool? SkipSpecialTokens { get; set; }
    public string? User { get; set; }
    /// <summary>OpenAI's logit_bias: token id (as a string) -> bias in [-100, 100].</summary>
    public Dictionary<string, float>? LogitBias { get; set; }
    /// <summary>vLLM's cache_salt: only requests with the same salt share prefix-cache blocks.</summary>
    public string? CacheSalt { get; set; }
    /// <summary>Anything else the client sent; ignored, as OpenAI-compatible servers do.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }
}
