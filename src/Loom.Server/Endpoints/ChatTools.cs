using System.Text.Json;
using Loom.Engine.ToolCalls;
using Loom.Server.Api;

namespace Loom.Server.Endpoints;

/// <summary>A chat request's tools and tool_choice, from their JSON shapes to the engine's types.</summary>
internal static class ChatTools
{
    public static List<ToolFunction>? Functions(List<ChatToolDto>? tools)
    {
        if (tools is null) return null;
        var result = new List<ToolFunction>(tools.Count);
        for (int i = 0; i < tools.Count; i++)
        {
            string param = $"tools[{i}]";
            var tool = tools[i] ?? throw ApiException.BadRequest($"{param} must be an object.", param);
            if (tool.Type != "function")
                throw ApiException.BadRequest($"{param}.type must be \"function\", got {(tool.Type is null ? "none" : $"\"{tool.Type}\"")}.", param + ".type");
            var function = tool.Function ?? throw ApiException.BadRequest($"{param}.function is required.", param + ".function");
            var parameters = function.Parameters is { ValueKind: not JsonValueKind.Null } p ? p : (JsonElement?)null;
            result.Add(new ToolFunction(function.Name ?? "", function.Description, parameters, function.Strict ?? false));
        }
        return result;
    }

    /// <summary>"auto" | "none" | "required" | {"type": "function", "function": {"name": ...}}; null when absent.</summary>
    public static ToolChoice? Choice(JsonElement? choice)
    {
        if (choice is not { } c || c.ValueKind == JsonValueKind.Null) return null;
        if (c.ValueKind == JsonValueKind.String)
            return c.GetString() switch
            {
                "auto" => ToolChoice.Auto,
                "none" => ToolChoice.None,
                "required" => ToolChoice.Required,
                var other => throw ApiException.BadRequest(
                    $"tool_choice must be \"auto\", \"none\", \"required\" or a named function, got \"{other}\".", "tool_choice"),
            };
        if (c.ValueKind == JsonValueKind.Object
            && c.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.ValueEquals("function")
            && c.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object
            && function.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String)
            return ToolChoice.Named(name.GetString()!);
        throw ApiException.BadRequest(
            "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}.", "tool_choice");
    }
}
