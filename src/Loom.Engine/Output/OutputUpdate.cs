using Loom.Core.Requests;

namespace Loom.Engine.Output;

/// <summary>
/// What one appended token changed: text now safe to show (possibly empty while a character is incomplete or text might
/// begin a stop string), and, on the last token, why the sequence finished.
/// </summary>
public readonly record struct OutputUpdate(string NewText, FinishReason? FinishReason, StopReason StopReason)
{
    public bool Finished => FinishReason is not null;
}
