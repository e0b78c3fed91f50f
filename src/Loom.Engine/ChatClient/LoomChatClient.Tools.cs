using System.Text.Json;
using Loom.Core.Requests;
using Loom.Engine.ToolCalls;
using Microsoft.Extensions.AI;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using TemplateMessage = Loom.ChatTemplates.ChatMessage;

namespace Loom.Engine.ChatClient;

/// <summary>
/// Tools in Microsoft.Extensions.AI's terms and the engine's: ChatOptions.Tools/ToolMode/AllowMultipleToolCalls to a
/// <see cref="ToolCallPlan"/>, FunctionCallContent and FunctionResultContent to the template's tool_calls and tool
/// messages, and calls read from the output back to FunctionCallContent, so FunctionInvokingChatClient can run the loop.
/// </summary>
public sealed partial class LoomChatClient
{
    private ToolCallPlan PlanTools(ChatOptions? options)
    {
        bool? strictForAll = StrictFlag(options?.AdditionalProperties, "AdditionalProperties");
        var functions = options?.Tools?.Select((tool, i) => tool is AIFunctionDeclaration f
            ? new ToolFunction(f.Name, string.IsNullOrEmpty(f.Description) ? null : f.Description, f.JsonSchema,
                StrictFlag(f.AdditionalProperties, $"Tools[{i}].AdditionalProperties") ?? strictForAll ?? false)
            : throw new ArgumentException($"Tools[{i}] is a {tool.GetType().Name}; only functions are supported.", "tools")).ToList();
        ToolChoice? choice = options?.ToolMode switch
        {
            null => null,
            NoneChatToolMode => ToolChoice.None,
            AutoChatToolMode => ToolChoice.Auto,
            RequiredChatToolMode { RequiredFunctionName: { } name } => ToolChoice.Named(name),
            RequiredChatToolMode => ToolChoice.Required,
            var other => throw new ArgumentException($"ToolMode {other} is not supported.", "tool_choice"),
        };
        return _input.PlanTools(functions, choice, options?.AllowMultipleToolCalls);
    }

    /// <summary>
    /// Microsoft.Extensions.AI's strict flag, where its OpenAI client reads it: AdditionalProperties["strict"] on the
    /// function, else on ChatOptions (which also covers ResponseFormat; Loom enforces a response schema either way).
    /// "strictJsonSchema" is the key M.E.AI used before 10.1. A value that is not a boolean is refused, not ignored.
    /// </summary>
    private static bool? StrictFlag(IReadOnlyDictionary<string, object?>? properties, string where)
    {
        if (properties is null) return null;
        foreach (string key in StrictKeys)
            if (properties.TryGetValue(key, out object? value))
                return value switch
                {
                    bool flag => flag,
                    JsonElement { ValueKind: JsonValueKind.True } => true,
                    JsonElement { ValueKind: JsonValueKind.False } => false,
                    _ => throw new ArgumentException($"{where}[\"{key}\"] must be a boolean.", "tools"),
                };
        return null;
    }

    private static readonly string[] StrictKeys = ["strict", "strictJsonSchema"];

    /// <summary>One message's contents as template messages: text, an assistant's calls, and one tool message per result.</summary>
    private static void AddTemplateMessages(AiChatMessage message, int index, List<TemplateMessage> result)
    {
        var calls = new List<object?>();
        var results = new List<FunctionResultContent>();
        foreach (var content in message.Contents)
            switch (content)
            {
                case TextContent or UsageContent: break;
                case FunctionCallContent call: calls.Add(TemplateCall(call)); break;
                case FunctionResultContent answer: results.Add(answer); break;
                default:
                    throw new ArgumentException(
                        $"messages[{index}] holds {content.GetType().Name}; only text, function calls and function results are supported.", "messages");
            }
        foreach (var answer in results)
            result.Add(new TemplateMessage("tool", ResultText(answer.Result))
            {
                Extra = new Dictionary<string, object?> { ["tool_call_id"] = answer.CallId },
            });
        if (results.Count > 0 && calls.Count == 0 && message.Text.Length == 0) return;
        var text = message.Text;
        result.Add(new TemplateMessage(message.Role.Value, text)
        {
            Extra = calls.Count > 0 ? new Dictionary<string, object?> { ["tool_calls"] = calls } : null,
        });
    }

    /// <summary>A call as transformers templates read it: {id, type, function: {name, arguments: object}}.</summary>
    private static Dictionary<string, object?> TemplateCall(FunctionCallContent call) => new()
    {
        ["id"] = call.CallId,
        ["type"] = "function",
        ["function"] = new Dictionary<string, object?>
        {
            ["name"] = call.Name,
            ["arguments"] = JsonSerializer.SerializeToElement(call.Arguments ?? new Dictionary<string, object?>(),
                AIJsonUtilities.DefaultOptions.GetTypeInfo(typeof(IDictionary<string, object?>))),
        },
    };

    private static string ResultText(object? result) => result switch
    {
        null => "",
        string text => text,
        JsonElement json when json.ValueKind == JsonValueKind.String => json.GetString()!,
        _ => JsonSerializer.Serialize(result, AIJsonUtilities.DefaultOptions.GetTypeInfo(result.GetType())),
    };

    /// <summary>A call read from the output as the FunctionCallContent FunctionInvokingChatClient invokes.</summary>
    private static FunctionCallContent ToContent(ToolCall call)
    {
        using var json = JsonDocument.Parse(call.Arguments);
        var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in json.RootElement.EnumerateObject()) arguments[property.Name] = property.Value.Clone();
        return new FunctionCallContent(call.Id, call.Name, arguments);
    }

    /// <summary>Microsoft.Extensions.AI's finish reasons; "abort" has no counterpart there and keeps vLLM's word.</summary>
    private static ChatFinishReason? ToFinishReason(FinishReason? reason) => reason switch
    {
        null => null,
        FinishReason.Stop => ChatFinishReason.Stop,
        FinishReason.Length => ChatFinishReason.Length,
        FinishReason.Abort => new ChatFinishReason("abort"),
        FinishReason.ToolCalls => ChatFinishReason.ToolCalls,
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "Unknown finish reason."),
    };
}
