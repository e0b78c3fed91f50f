using System.Text.Json;
using System.Text.Json.Serialization;
using Loom.Core.Requests;

namespace Loom.Server.Api;

public sealed class ChatCompletionRequest : SamplingFields
{
    public List<ChatMessageDto>? Messages { get; set; }
    public int? MaxCompletionTokens { get; set; }
    public bool? Logprobs { get; set; }
    public int? TopLogprobs { get; set; }
    /// <summary>vLLM extension: end the prompt with the assistant header (default true).</summary>
    public bool? AddGenerationPrompt { get; set; }
    /// <summary>vLLM extension: let the model continue the last (assistant) message.</summary>
    public bool? ContinueFinalMessage { get; set; }
    /// <summary>Functions the model may call: [{"type": "function", "function": {name, description, parameters, strict}}].</summary>
    public List<ChatToolDto>? Tools { get; set; }
    /// <summary>"auto", "none", "required", or {"type": "function", "function": {"name": ...}}.</summary>
    public JsonElement? ToolChoice { get; set; }
    public bool? ParallelToolCalls { get; set; }
}

public sealed class ChatToolDto
{
    public string? Type { get; set; }
    public ChatFunctionDto? Function { get; set; }
}

public sealed class ChatFunctionDto
{
    public string? Name { get; set; }
    public string? Description { get; set; }
    /// <summary>The JSON Schema of the arguments (an object schema).</summary>
    public JsonElement? Parameters { get; set; }
    public bool? Strict { get; set; }
}

/// <summary>A call an assistant message made (request side); arguments is JSON text, as OpenAI sends it.</summary>
public sealed class ChatToolCallDto
{
    public string? Id { get; set; }
    public string? Type { get; set; }
    public ChatToolCallFunctionDto? Function { get; set; }
}

public sealed class ChatToolCallFunctionDto
{
    public string? Name { get; set; }
    public JsonElement? Arguments { get; set; }
}

public sealed class ChatMessageDto
{
    public string? Role { get; set; }
    /// <summary>A string, null, or a list of parts {"type": "text", "text": ...}.</summary>
    public JsonElement? Content { get; set; }
    public string? Name { get; set; }
    /// <summary>An assistant message's calls.</summary>
    public List<ChatToolCallDto>? ToolCalls { get; set; }
    /// <summary>A tool message's answer to one of those calls.</summary>
    public string? ToolCallId { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }
}

public sealed record ChatCompletionResponse(
    string Id, string Object, long Created, string Model, IReadOnlyList<ChatChoice> Choices, Usage Usage)
{
    /// <summary>A do_remote_decode reply: where the held KV is.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public KvTransferParamsDto? KvTransferParams { get; init; }
}

public sealed record ChatChoice(int Index, ChatResponseMessage Message, ChatLogprobs? Logprobs,
    [property: JsonConverter(typeof(FinishReasonJsonConverter))] FinishReason? FinishReason);

public sealed record ChatResponseMessage(string Role, string? Content)
{
    /// <summary>The calls the model made; left out when it made none, as OpenAI does.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<ChatToolCallOut>? ToolCalls { get; init; }
}

/// <summary>tool_calls[i] of a response: {id, type: "function", function: {name, arguments}}.</summary>
public sealed record ChatToolCallOut(string Id, string Type, ChatFunctionCallOut Function);

public sealed record ChatFunctionCallOut(string Name, string Arguments);

/// <summary>
/// tool_calls[i] of a stream chunk: the first chunk of a call carries index, id, type and the name; the next ones
/// carry index and an arguments piece.
/// </summary>
public sealed record ChatToolCallDelta(int Index)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Id { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Type { get; init; }
    public required ChatFunctionCallDelta Function { get; init; }
}

public sealed record ChatFunctionCallDelta
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Name { get; init; }
    public required string Arguments { get; init; }
}

public sealed record ChatCompletionChunk(
    string Id, string Object, long Created, string Model, IReadOnlyList<ChatChunkChoice> Choices)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Usage? Usage { get; init; }
}

public sealed record ChatChunkChoice(int Index, ChatDelta Delta, ChatLogprobs? Logprobs,
    [property: JsonConverter(typeof(FinishReasonJsonConverter))] FinishReason? FinishReason);

public sealed record ChatDelta
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Role { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Content { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<ChatToolCallDelta>? ToolCalls { get; init; }
}

public sealed record ChatLogprobs(IReadOnlyList<ChatTokenLogprob> Content);

public sealed record ChatTokenLogprob(string Token, float Logprob, IReadOnlyList<int> Bytes, IReadOnlyList<ChatTopLogprob> TopLogprobs);

public sealed record ChatTopLogprob(string Token, float Logprob, IReadOnlyList<int> Bytes);
