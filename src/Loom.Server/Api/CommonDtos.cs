using System.Text.Json;
using System.Text.Json.Serialization;

namespace Loom.Server.Api;

public sealed class StreamOptions
{
    public bool? IncludeUsage { get; set; }
}

public sealed record PromptTokensDetails(int CachedTokens);

public sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens, PromptTokensDetails PromptTokensDetails);

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
    /// <summary>Anything else the client sent; ignored, as OpenAI-compatible servers do.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }
}
