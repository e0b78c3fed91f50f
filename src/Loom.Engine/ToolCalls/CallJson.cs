using System.Text.Json;

namespace Loom.Engine.ToolCalls;

/// <summary>The JSON the families write calls in: {"name": ..., "arguments" (or "parameters"): {...}}.</summary>
internal static class CallJson
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    /// <summary>Parses one JSON text, or returns null when it is not exactly one well-formed value.</summary>
    public static JsonDocument? TryParse(string json)
    {
        try
        {
            return JsonDocument.Parse(json, Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A call object with a non-empty string name and object arguments (absent = no arguments, "{}").</summary>
    public static bool TryRead(JsonElement element, string argumentsKey, out ParsedCall call)
    {
        call = default;
        if (element.ValueKind != JsonValueKind.Object
            || !element.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
            || name.GetString() is not { Length: > 0 } functionName)
            return false;
        if (!element.TryGetProperty(argumentsKey, out var arguments) && !element.TryGetProperty("arguments", out arguments))
        {
            call = new ParsedCall(functionName, "{}");
            return true;
        }
        if (arguments.ValueKind != JsonValueKind.Object) return false;
        call = new ParsedCall(functionName, arguments.GetRawText());
        return true;
    }

    /// <summary>
    /// The end (exclusive) of the JSON object or array that starts at <paramref name="start"/>, found by bracket depth
    /// outside strings; -1 while it has not closed. Well-formedness is checked later, by the parser.
    /// </summary>
    public static int EndOfValue(string text, int start)
    {
        int depth = 0;
        bool inString = false, escaped = false;
        for (int i = start; i < text.Length; i++)
        {
            char c = text[i];
            if (inString)
            {
                if (escaped) escaped = false;
                else if (c == '\\') escaped = true;
                else if (c == '"') inString = false;
                continue;
            }
            if (c == '"') inString = true;
            else if (c is '{' or '[') depth++;
            else if (c is '}' or ']' && --depth == 0) return i + 1;
        }
        return -1;
    }

    /// <summary>
    /// Where <paramref name="marker"/> occurs in <paramref name="text"/>, or where a prefix of it ends the text
    /// (complete = false); false when neither.
    /// </summary>
    public static bool FindMarker(string text, string marker, out int index, out bool complete)
    {
        index = text.IndexOf(marker, StringComparison.Ordinal);
        complete = index >= 0;
        if (complete) return true;
        for (int length = Math.Min(marker.Length - 1, text.Length); length > 0; length--)
            if (text.AsSpan(text.Length - length).SequenceEqual(marker.AsSpan(0, length)))
            {
                index = text.Length - length;
                return true;
            }
        return false;
    }
}
