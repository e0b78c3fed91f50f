using System.Text;
using System.Text.Json;
using Loom.Server.Api;
using TemplateMessage = Loom.ChatTemplates.ChatMessage;

namespace Loom.Server.Endpoints;

/// <summary>
/// OpenAI chat messages to the template's messages: content as a string, or text parts joined by newlines; an
/// assistant's tool_calls with their arguments parsed into objects and a tool message's tool_call_id, as vLLM hands
/// them to transformers templates. A tool message must answer a call an earlier assistant message made (OpenAI's rule).
/// </summary>
internal static class ChatMessages
{
    public static List<TemplateMessage> From(List<ChatMessageDto>? messages)
    {
        if (messages is null || messages.Count == 0)
            throw ApiException.BadRequest("messages must hold at least one message.", "messages");
        var result = new List<TemplateMessage>(messages.Count);
        var callIds = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i] ?? throw ApiException.BadRequest($"messages[{i}] must be an object.", $"messages[{i}]");
            var role = m.Role ?? throw ApiException.BadRequest($"messages[{i}].role is required.", $"messages[{i}].role");
            var content = ContentText(m.Content, $"messages[{i}].content");
            if (content is null && role != "assistant")
                throw ApiException.BadRequest($"messages[{i}].content is required for role '{role}'.", $"messages[{i}].content");
            var extra = ExtraFields(m);
            if (m.ToolCalls is { Count: > 0 } calls)
            {
                if (role != "assistant")
                    throw ApiException.BadRequest($"messages[{i}].tool_calls is only allowed on assistant messages.", $"messages[{i}].tool_calls");
                extra["tool_calls"] = ToolCalls(calls, $"messages[{i}].tool_calls", callIds);
            }
            if (role == "tool") extra["tool_call_id"] = AnsweredCall(m.ToolCallId, i, callIds);
            // A missing content is "" for templates, as vLLM passes it (Qwen3's template tests '</think>' in content).
            result.Add(new TemplateMessage(role, content ?? "") { Extra = extra.Count == 0 ? null : extra });
        }
        return result;
    }

    /// <summary>The calls as templates read them: {id, type, function: {name, arguments: object}}.</summary>
    private static List<object?> ToolCalls(List<ChatToolCallDto> calls, string param, HashSet<string> callIds)
    {
        var result = new List<object?>(calls.Count);
        for (int j = 0; j < calls.Count; j++)
        {
            string at = $"{param}[{j}]";
            var call = calls[j] ?? throw ApiException.BadRequest($"{at} must be an object.", at);
            if (string.IsNullOrEmpty(call.Id)) throw ApiException.BadRequest($"{at}.id is required.", at + ".id");
            if (call.Type is not (null or "function"))
                throw ApiException.BadRequest($"{at}.type must be \"function\", got \"{call.Type}\".", at + ".type");
            var function = call.Function ?? throw ApiException.BadRequest($"{at}.function is required.", at + ".function");
            if (string.IsNullOrEmpty(function.Name))
                throw ApiException.BadRequest($"{at}.function.name is required.", at + ".function.name");
            callIds.Add(call.Id);
            result.Add(new Dictionary<string, object?>
            {
                ["id"] = call.Id,
                ["type"] = "function",
                ["function"] = new Dictionary<string, object?>
                {
                    ["name"] = function.Name,
                    ["arguments"] = ArgumentsObject(function.Arguments, at + ".function.arguments"),
                },
            });
        }
        return result;
    }

    /// <summary>arguments is JSON text of an object (OpenAI's shape); an object given directly is taken too.</summary>
    private static JsonElement ArgumentsObject(JsonElement? arguments, string param)
    {
        if (arguments is not { } a || a.ValueKind == JsonValueKind.Null)
            throw ApiException.BadRequest($"{param} is required.", param);
        if (a.ValueKind == JsonValueKind.Object) return a;
        if (a.ValueKind == JsonValueKind.String)
        {
            try
            {
                using var parsed = JsonDocument.Parse(a.GetString()!);
                if (parsed.RootElement.ValueKind == JsonValueKind.Object) return parsed.RootElement.Clone();
            }
            catch (JsonException)
            {
            }
        }
        throw ApiException.BadRequest($"{param} must be a JSON object, written as a string.", param);
    }

    private static string AnsweredCall(string? toolCallId, int i, HashSet<string> callIds)
    {
        string param = $"messages[{i}].tool_call_id";
        if (string.IsNullOrEmpty(toolCallId)) throw ApiException.BadRequest($"{param} is required for role 'tool'.", param);
        if (!callIds.Contains(toolCallId))
            throw ApiException.BadRequest(
                $"messages[{i}] with role 'tool' must answer a call of a preceding assistant message's tool_calls; no call has the id '{toolCallId}'.", param);
        return toolCallId;
    }

    private static string? ContentText(JsonElement? content, string param)
    {
        if (content is not { } c || c.ValueKind == JsonValueKind.Null) return null;
        if (c.ValueKind == JsonValueKind.String) return c.GetString();
        if (c.ValueKind != JsonValueKind.Array)
            throw ApiException.BadRequest($"{param} must be a string or a list of content parts.", param);
        var text = new StringBuilder();
        int part = 0;
        foreach (var p in c.EnumerateArray())
        {
            if (p.ValueKind != JsonValueKind.Object || !p.TryGetProperty("type", out var type)
                || type.ValueKind != JsonValueKind.String || type.GetString() != "text"
                || !p.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                throw ApiException.BadRequest($"{param}[{part}] must be a text part {{\"type\": \"text\", \"text\": ...}}.", $"{param}[{part}]");
            if (part > 0) text.Append('\n');
            text.Append(t.GetString());
            part++;
        }
        return text.ToString();
    }

    private static Dictionary<string, object?> ExtraFields(ChatMessageDto m)
    {
        var extra = new Dictionary<string, object?>();
        if (m.Name is not null) extra["name"] = m.Name;
        if (m.Extra is not null)
            foreach (var (key, value) in m.Extra) extra[key] = value;
        return extra;
    }
}
