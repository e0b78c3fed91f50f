namespace Loom.Engine.ToolCalls;

/// <summary>
/// Hermes, Qwen2.5 and Qwen3 (vLLM's "hermes"): each call is <c>&lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;</c>,
/// on lines of their own; several calls follow each other.
/// </summary>
public sealed class HermesToolCallParser : ToolCallParser
{
    private const string Start = "<tool_call>", End = "</tool_call>";

    public override string Name => "hermes";

    public override ToolCallFormat Format { get; } = new(Start + "\n", "\n" + End, "\n") { Marker = Start };

    public override bool TryFindStart(string text, bool atOutputStart, out int index, out int markerLength, out bool complete)
    {
        markerLength = Start.Length;
        return CallJson.FindMarker(text, Start, out index, out complete);
    }

    public override bool TryFindEnd(string body, out int bodyLength, out int consumed)
    {
        bodyLength = body.IndexOf(End, StringComparison.Ordinal);
        consumed = bodyLength + End.Length;
        return bodyLength >= 0;
    }

    public override bool TryParseBody(string body, List<ParsedCall> calls)
    {
        using var json = CallJson.TryParse(body);
        if (json is null || !CallJson.TryRead(json.RootElement, "arguments", out var call)) return false;
        calls.Add(call);
        return true;
    }
}
