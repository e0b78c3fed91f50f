using System.Text.Json;
using System.Text.Json.Serialization;
using Loom.Core.Requests;
using Loom.Engine.Output;

namespace Loom.Server.Api;

public sealed class CompletionRequest : SamplingFields
{
    /// <summary>A string, a list of strings, a list of token ids, or a list of token id lists.</summary>
    public JsonElement? Prompt { get; set; }
    /// <summary>Number of top log-probabilities per token (0..20); null = none.</summary>
    public int? Logprobs { get; set; }
    public bool? Echo { get; set; }
    public int? BestOf { get; set; }
    public string? Suffix { get; set; }
    /// <summary>vLLM extension: choices carry token_ids and prompt_token_ids.</summary>
    public bool? ReturnTokenIds { get; set; }
    public bool? AddSpecialTokens { get; set; }
}

public sealed record CompletionResponse(
    string Id, string Object, long Created, string Model, IReadOnlyList<CompletionChoice> Choices)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Usage? Usage { get; init; }
    /// <summary>A do_remote_decode reply: where the held KV is.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public KvTransferParamsDto? KvTransferParams { get; init; }
}

public sealed record CompletionChoice(int Index, string Text, CompletionLogprobs? Logprobs,
    [property: JsonConverter(typeof(FinishReasonJsonConverter))] FinishReason? FinishReason)
{
    /// <summary>Left out when no stop string or stop id ended the choice.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault), JsonConverter(typeof(StopReasonJsonConverter))]
    public StopReason StopReason { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<int>? PromptTokenIds { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<int>? TokenIds { get; init; }
}

/// <summary>The legacy completions logprobs shape: parallel lists, top_logprobs as token->logprob maps.</summary>
public sealed record CompletionLogprobs(
    IReadOnlyList<string> Tokens,
    IReadOnlyList<float?> TokenLogprobs,
    IReadOnlyList<Dictionary<string, float>?> TopLogprobs,
    IReadOnlyList<int> TextOffset);
