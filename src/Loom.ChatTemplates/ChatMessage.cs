namespace Loom.ChatTemplates;

/// <summary>A chat message as templates see it. Content may be null for assistant tool-call turns.</summary>
public sealed record ChatMessage(string Role, string? Content)
{
    /// <summary>Optional extra fields (tool_calls, name, tool_call_id, ...) passed to the template as-is (JSON-like values).</summary>
    public IReadOnlyDictionary<string, object?>? Extra { get; init; }
}
