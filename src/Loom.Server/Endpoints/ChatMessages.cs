using System.Text;
using System.Text.Json;
using Loom.Server.Api;
using TemplateMessage = Loom.ChatTemplates.ChatMessage;

namespace Loom.Server.Endpoints;

/// <summary>OpenAI chat messages to the template's messages: content as a string, or text parts joined by newlines.</summary>
internal static class ChatMessages
{
    public static List<TemplateMessage> From(List<ChatMessageDto>? messages)
    {
        if (messages is null || messages.Count == 0)
            throw ApiException.BadRequest("messages must hold at least one message.", "messages");
        var result = new List<TemplateMessage>(messages.Count);
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i] ?? throw ApiException.BadRequest($"messages[{i}] must be an object.", $"messages[{i}]");
            var role = m.Role ?? throw ApiException.BadRequest($"messages[{i}].role is required.", $"messages[{i}].role");
            var content = ContentText(m.Content, $"messages[{i}].content");
            if (content is null && role != "assistant")
                throw ApiException.BadRequest($"messages[{i}].content is required for role '{role}'.", $"messages[{i}].content");
            result.Add(new TemplateMessage(role, content) { Extra = ExtraFields(m) });
        }
        return result;
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

    private static Dictionary<string, object?>? ExtraFields(ChatMessageDto m)
    {
        if (m.Name is null && m.Extra is null) return null;
        var extra = new Dictionary<string, object?>();
        if (m.Name is not null) extra["name"] = m.Name;
        if (m.Extra is not null)
            foreach (var (key, value) in m.Extra) extra[key] = value;
        return extra;
    }
}
