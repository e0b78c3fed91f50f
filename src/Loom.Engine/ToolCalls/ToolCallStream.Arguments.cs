using System.Text.RegularExpressions;

namespace Loom.Engine.ToolCalls;

/// <summary>
/// The streaming side of <see cref="ToolCallStream"/>: the calls of the open region as they are written. Each family
/// writes a call as <c>{"name": N, "arguments" (or "parameters"): {...}}</c>, one after another (Llama's ";", Mistral's
/// array); a call whose head has been written goes out by name, and its arguments object as far as it has come.
/// </summary>
public sealed partial class ToolCallStream
{
    private readonly bool _streamArguments;
    private readonly List<StreamedCall> _streamed = []; // calls of the open region sent so far

    /// <summary>A call sent before its region closed: its id, name, and how much of its arguments text went out.</summary>
    private sealed record StreamedCall(string Id, string Name)
    {
        public int Sent { get; set; }
    }

    private void StreamOpenRegion(string body, List<ToolCallDelta> deltas)
    {
        int at = 0;
        for (int j = 0; _allowParallel || _calls + j == 0; j++)
        {
            while (at < body.Length && (char.IsWhiteSpace(body[at]) || body[at] is '[' or ',' or ';')) at++;
            var head = CallHead().Match(body, at);
            if (!head.Success) return; // not written yet (or keys in another order: the call goes out when complete)
            if (j == _streamed.Count)
            {
                _streamed.Add(new StreamedCall(_newId(), head.Groups[1].Value));
                deltas.Add(new ToolCallDelta(_calls + j, _streamed[j].Id, _streamed[j].Name, ""));
            }
            int start = head.Index + head.Length;
            if (start == body.Length || body[start] != '{') return;
            int end = CallJson.EndOfValue(body, start);
            SendArguments(j, body.AsSpan(start, (end < 0 ? body.Length : end) - start), deltas);
            if (end < 0) return;
            for (at = end; at < body.Length && char.IsWhiteSpace(body[at]); at++) { }
            if (at == body.Length || body[at] != '}') return;
            at++;
        }
    }

    private void SendArguments(int j, ReadOnlySpan<char> writtenSoFar, List<ToolCallDelta> deltas)
    {
        var call = _streamed[j];
        if (writtenSoFar.Length <= call.Sent) return;
        deltas.Add(new ToolCallDelta(_calls + j, null, null, writtenSoFar[call.Sent..].ToString()));
        call.Sent = writtenSoFar.Length;
    }

    /// <summary>Call <paramref name="j"/> of a region that closed and parsed: what was not yet sent of it goes out now.</summary>
    private ToolCall CompleteCall(int j, ParsedCall parsed, List<ToolCallDelta> deltas)
    {
        int index = _calls++;
        if (j < _streamed.Count && _streamed[j].Name == parsed.Name && _streamed[j].Sent <= parsed.Arguments.Length)
        {
            var sent = _streamed[j];
            if (parsed.Arguments.Length > sent.Sent) deltas.Add(new ToolCallDelta(index, null, null, parsed.Arguments[sent.Sent..]));
            return new ToolCall(sent.Id, parsed.Name, parsed.Arguments);
        }
        var call = new ToolCall(_newId(), parsed.Name, parsed.Arguments);
        deltas.Add(new ToolCallDelta(index, call.Id, call.Name, ""));
        deltas.Add(new ToolCallDelta(index, null, null, call.Arguments));
        return call;
    }

    /// <summary>The head of a call up to its arguments object: names are OpenAI's characters, so never escaped.</summary>
    [GeneratedRegex("""\G\s*\{\s*"name"\s*:\s*"([A-Za-z0-9_-]{1,64})"\s*,\s*"(?:arguments|parameters)"\s*:\s*""")]
    private static partial Regex CallHead();
}
