namespace Loom.Engine.ToolCalls;

/// <summary>
/// Llama 3.1/3.2 with JSON tool calling (vLLM's "llama3_json"): the whole output is the call(s),
/// <c>{"name": ..., "parameters": {...}}</c>, several separated by ";", optionally after <c>&lt;|python_tag|&gt;</c>.
/// A JSON object that is not a call (no name) stays content.
/// </summary>
public sealed class Llama3JsonToolCallParser : ToolCallParser
{
    private const string PythonTag = "<|python_tag|>";

    public override string Name => "llama3_json";

    public override ToolCallFormat Format { get; } = new("", "", "; ", ArgumentsKey: "parameters");

    public override bool TryFindStart(string text, bool atOutputStart, out int index, out int markerLength, out bool complete)
    {
        markerLength = 0;
        if (atOutputStart)
        {
            int first = 0;
            while (first < text.Length && char.IsWhiteSpace(text[first])) first++;
            if (first < text.Length && text[first] == '{')
            {
                (index, complete) = (first, true);
                return true;
            }
        }
        if (!CallJson.FindMarker(text, PythonTag, out index, out complete)) return false;
        markerLength = PythonTag.Length;
        return true;
    }

    /// <summary>The calls run to the end of the output.</summary>
    public override bool TryFindEnd(string body, out int bodyLength, out int consumed)
    {
        bodyLength = consumed = 0;
        return false;
    }

    public override bool TryParseBody(string body, List<ParsedCall> calls)
    {
        int at = 0;
        while (true)
        {
            while (at < body.Length && (char.IsWhiteSpace(body[at]) || (body[at] == ';' && calls.Count > 0))) at++;
            if (at == body.Length) return calls.Count > 0;
            int end = body[at] == '{' ? CallJson.EndOfValue(body, at) : -1;
            if (end < 0) return false;
            using var json = CallJson.TryParse(body[at..end]);
            if (json is null || !CallJson.TryRead(json.RootElement, "parameters", out var call)) return false;
            calls.Add(call);
            at = end;
            if (at < body.Length && !char.IsWhiteSpace(body[at]) && body[at] != ';') return false;
        }
    }
}
