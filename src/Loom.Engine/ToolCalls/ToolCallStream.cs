using System.Text;

namespace Loom.Engine.ToolCalls;

/// <summary>
/// What a stream has decided since the last feed: text that is content, calls that are complete, and the same calls as
/// OpenAI streams them (<paramref name="Deltas"/>: per call its name once, then pieces of its arguments).
/// </summary>
public readonly record struct ToolCallUpdate(string Content, IReadOnlyList<ToolCall> Calls, IReadOnlyList<ToolCallDelta> Deltas)
{
    public bool IsEmpty => Content.Length == 0 && Calls.Count == 0 && Deltas.Count == 0;
}

/// <summary>
/// One streamed piece of call <paramref name="Index"/>: its start (<paramref name="Id"/> and <paramref name="Name"/>
/// set, no arguments yet) or a piece of its arguments text (Id and Name null). A call's pieces concatenate to its
/// <see cref="ToolCall.Arguments"/>.
/// </summary>
public readonly record struct ToolCallDelta(int Index, string? Id, string? Name, string Arguments)
{
    public bool IsStart => Id is not null;
}

/// <summary>
/// Separates one output of the model into content and tool calls as its text arrives (in any pieces). Text outside
/// call regions is content. By default a call region is held back until it is complete and then comes out as whole
/// calls (the name once, then its arguments), so a region that turns out malformed is still content and a stream in
/// any chunking yields exactly what the whole text yields (<see cref="ParseWhole"/> is a single feed). When a grammar
/// guarantees that every region parses (<c>streamArguments</c>), a call's name goes out as soon as it is written and its
/// arguments as they are generated. Whitespace right before a call, and trailing whitespace of an output with calls,
/// is dropped (it separates calls; it is not an answer).
/// </summary>
public sealed partial class ToolCallStream
{
    private readonly ToolCallParser _parser;
    private readonly bool _allowParallel;
    private readonly Func<string> _newId;
    private readonly StringBuilder _pending = new(); // text not yet decided: a possible marker, or a call region's body
    private readonly List<ParsedCall> _parsed = [];
    private string _heldWhitespace = "";             // trailing whitespace of the content so far
    private string _marker = "";                     // the marker text of the open call region
    private bool _inCall;
    private bool _atOutputStart = true;
    private int _calls;

    internal ToolCallStream(ToolCallParser parser, bool allowParallel, Func<string>? newId, bool streamArguments)
    {
        _parser = parser;
        _allowParallel = allowParallel;
        _newId = newId ?? ToolCall.NewId;
        _streamArguments = streamArguments;
    }

    /// <summary>Calls found so far.</summary>
    public int CallCount => _calls;

    /// <summary>The whole output at once: its content (null when there is none) and its calls.</summary>
    public static (string? Content, IReadOnlyList<ToolCall> Calls) ParseWhole(ToolCallParser parser, string text,
        bool allowParallel = true, Func<string>? newId = null)
    {
        var stream = parser.CreateStream(allowParallel, newId);
        var first = stream.Feed(text);
        var last = stream.Finish();
        var content = first.Content + last.Content;
        return (content.Length == 0 ? null : content, [.. first.Calls, .. last.Calls]);
    }

    public ToolCallUpdate Feed(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        _pending.Append(text);
        return Process(final: false);
    }

    /// <summary>The end of the output: an open region is read as it stands, held text is released or dropped.</summary>
    public ToolCallUpdate Finish()
    {
        var update = Process(final: true);
        var content = update.Content;
        if (_calls == 0) content += _heldWhitespace;
        _heldWhitespace = "";
        return update with { Content = content };
    }

    private ToolCallUpdate Process(bool final)
    {
        var content = new StringBuilder();
        var calls = new List<ToolCall>();
        var deltas = new List<ToolCallDelta>();
        while (_pending.Length > 0)
        {
            var text = _pending.ToString();
            if (_inCall ? !CloseCall(text, final, content, calls, deltas) : !OpenCall(text, final, content)) break;
        }
        return new ToolCallUpdate(content.ToString(), calls, deltas);
    }

    /// <summary>Outside a region: content up to the next marker. False when the rest must wait for more text.</summary>
    private bool OpenCall(string text, bool final, StringBuilder content)
    {
        if (!_parser.TryFindStart(text, _atOutputStart, out int index, out int markerLength, out bool complete)
            || (!complete && final))
        {
            AppendContent(content, text);
            _pending.Clear();
            return false;
        }
        AppendContent(content, text[..index]);
        _pending.Remove(0, index);
        if (!complete) return false;
        _marker = text.Substring(index, markerLength);
        _pending.Remove(0, markerLength);
        _inCall = true;
        return true;
    }

    /// <summary>Inside a region: once it ends (or the output does), its calls, or its text as content when malformed.</summary>
    private bool CloseCall(string body, bool final, StringBuilder content, List<ToolCall> calls, List<ToolCallDelta> deltas)
    {
        int bodyLength, consumed;
        if (!_parser.TryFindEnd(body, out bodyLength, out consumed))
        {
            if (!final)
            {
                if (_streamArguments) StreamOpenRegion(body, deltas);
                return false;
            }
            bodyLength = consumed = body.Length;
        }
        _parsed.Clear();
        if (_parser.TryParseBody(body[..bodyLength], _parsed))
        {
            _heldWhitespace = "";
            _atOutputStart = false;
            for (int j = 0; j < _parsed.Count && (_allowParallel || _calls == 0); j++)
                calls.Add(CompleteCall(j, _parsed[j], deltas));
        }
        else AppendContent(content, _marker + body[..consumed]);
        _streamed.Clear();
        _pending.Remove(0, consumed);
        _inCall = false;
        return true;
    }

    /// <summary>Content, with its trailing whitespace held back until text that is not whitespace follows it.</summary>
    private void AppendContent(StringBuilder content, string text)
    {
        if (text.Length == 0) return;
        int end = text.Length;
        while (end > 0 && char.IsWhiteSpace(text[end - 1])) end--;
        if (end == 0)
        {
            _heldWhitespace += text;
            return;
        }
        content.Append(_heldWhitespace).Append(text, 0, end);
        _heldWhitespace = text[end..];
        _atOutputStart = false;
    }
}
