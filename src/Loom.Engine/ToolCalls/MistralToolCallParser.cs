using System.Text.Json;

namespace Loom.Engine.ToolCalls;

/// <summary>
/// Mistral (vLLM's "mistral"), the v0.3 tokenizer's format: <c>[TOOL_CALLS] [{"name": ..., "arguments": {...}}, ...]</c>.
/// [TOOL_CALLS] is a special token, so detokenization keeps special tokens while this parser reads the output.
/// </summary>
public sealed class MistralToolCallParser : ToolCallParser
{
    private const string Start = "[TOOL_CALLS]";

    public override string Name => "mistral";

    public override ToolCallFormat Format { get; } = new("", "", ", ") { ListPrefix = Start + "[", ListSuffix = "]" };

    public override bool NeedsSpecialTokens => true;

    public override bool TryFindStart(string text, bool atOutputStart, out int index, out int markerLength, out bool complete)
    {
        markerLength = Start.Length;
        return CallJson.FindMarker(text, Start, out index, out complete);
    }

    /// <summary>The region ends with the JSON array (or object) after the marker.</summary>
    public override bool TryFindEnd(string body, out int bodyLength, out int consumed)
    {
        int first = 0;
        while (first < body.Length && char.IsWhiteSpace(body[first])) first++;
        bodyLength = consumed = 0;
        if (first == body.Length) return false;
        if (body[first] is not ('[' or '{')) return true; // no JSON follows: an empty region, so the marker stays text
        bodyLength = consumed = CallJson.EndOfValue(body, first);
        return bodyLength >= 0;
    }

    public override bool TryParseBody(string body, List<ParsedCall> calls)
    {
        using var json = CallJson.TryParse(body);
        if (json is null) return false;
        var root = json.RootElement;
        if (root.ValueKind == JsonValueKind.Object) return TryAdd(root, calls);
        if (root.ValueKind != JsonValueKind.Array || root.GetArrayLength() == 0) return false;
        foreach (var element in root.EnumerateArray())
            if (!TryAdd(element, calls)) return false;
        return true;
    }

    private static bool TryAdd(JsonElement element, List<ParsedCall> calls)
    {
        if (!CallJson.TryRead(element, "arguments", out var call)) return false;
        calls.Add(call);
        return true;
    }
}
