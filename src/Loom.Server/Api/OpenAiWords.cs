using System.Text.Json;
using System.Text.Json.Serialization;
using Loom.Core.Requests;
using Loom.Engine.Output;

namespace Loom.Server.Api;

/// <summary>The engine's typed outcomes in the words of OpenAI's API (and vLLM's "abort"): the JSON edge, and only it.</summary>
public static class OpenAiWords
{
    public static string Of(FinishReason reason) => reason switch
    {
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        FinishReason.Abort => "abort",
        FinishReason.ToolCalls => "tool_calls",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "Unknown finish reason."),
    };

    public static FinishReason FinishReasonOf(string word) => word switch
    {
        "stop" => FinishReason.Stop,
        "length" => FinishReason.Length,
        "abort" => FinishReason.Abort,
        "tool_calls" => FinishReason.ToolCalls,
        _ => throw new JsonException($"'{word}' is not a finish_reason."),
    };
}

/// <summary>finish_reason: "stop", "length", "abort" or "tool_calls".</summary>
public sealed class FinishReasonJsonConverter : JsonConverter<FinishReason>
{
    public override FinishReason Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        OpenAiWords.FinishReasonOf(reader.GetString() ?? throw new JsonException("finish_reason must be a string."));

    public override void Write(Utf8JsonWriter writer, FinishReason value, JsonSerializerOptions options) =>
        writer.WriteStringValue(OpenAiWords.Of(value));
}

/// <summary>vLLM's stop_reason: the stop string, the stop token id (a number), or null when neither ended the choice.</summary>
public sealed class StopReasonJsonConverter : JsonConverter<StopReason>
{
    public override bool HandleNull => true;

    public override StopReason Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Null => StopReason.None,
        JsonTokenType.String => StopReason.String(reader.GetString()!),
        JsonTokenType.Number => StopReason.TokenId(reader.GetInt32()),
        _ => throw new JsonException("stop_reason must be a string, a token id or null."),
    };

    public override void Write(Utf8JsonWriter writer, StopReason value, JsonSerializerOptions options)
    {
        if (value.StopString is { } text) writer.WriteStringValue(text);
        else if (value.StopTokenId is { } id) writer.WriteNumberValue(id);
        else writer.WriteNullValue();
    }
}
