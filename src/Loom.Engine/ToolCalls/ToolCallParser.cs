namespace Loom.Engine.ToolCalls;

/// <summary>
/// How one model family marks tool calls in its output text, and how a call's text reads back as calls. Stateless:
/// <see cref="ToolCallStream"/> runs the one state machine every family shares over it.
/// </summary>
public abstract class ToolCallParser
{
    /// <summary>vLLM's --tool-call-parser name.</summary>
    public abstract string Name { get; }

    /// <summary>How the family writes calls, for a grammar that must produce them (<see cref="ToolCallConstraint"/>).</summary>
    public abstract ToolCallFormat Format { get; }

    /// <summary>The call marker is a special token that detokenization must keep (Mistral's [TOOL_CALLS]).</summary>
    public virtual bool NeedsSpecialTokens => false;

    /// <summary>
    /// Where a call region starts in <paramref name="text"/>: the index of its marker and the marker's length (the body
    /// follows it). A marker cut off by the end of the text is reported with <paramref name="complete"/> false, so the
    /// stream holds that tail back until more text decides it.
    /// </summary>
    /// <param name="atOutputStart">Nothing but whitespace has come before <paramref name="text"/> in this output.</param>
    /// <returns>False when no marker, not even a partial one, occurs.</returns>
    public abstract bool TryFindStart(string text, bool atOutputStart, out int index, out int markerLength, out bool complete);

    /// <summary>
    /// Where the body of a call region that has started ends: the body's length and the length consumed with its end
    /// marker. False while the end has not arrived; at the end of the output the whole rest is the body.
    /// </summary>
    public abstract bool TryFindEnd(string body, out int bodyLength, out int consumed);

    /// <summary>Reads a body as calls, or returns false when it is not well-formed (the region then stays text).</summary>
    public abstract bool TryParseBody(string body, List<ParsedCall> calls);

    /// <summary>A stream that reads one output of the model.</summary>
    /// <param name="streamArguments">Send names and arguments as they are written: only where a grammar guarantees
    /// that every call region parses (a region that turned out malformed could not take back what was sent).</param>
    public ToolCallStream CreateStream(bool allowParallel = true, Func<string>? newId = null, bool streamArguments = false) =>
        new(this, allowParallel, newId, streamArguments);
}

/// <summary>A call as the body wrote it, before it gets an id.</summary>
public readonly record struct ParsedCall(string Name, string Arguments);
