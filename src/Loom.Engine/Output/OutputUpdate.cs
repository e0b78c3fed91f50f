namespace Loom.Engine.Output;

/// <summary>
/// What one appended token changed: text now safe to show (possibly empty while a character is incomplete or text might
/// begin a stop string), and, on the last token, why the sequence finished.
/// </summary>
public readonly record struct OutputUpdate(string NewText, string? FinishReason, object? StopReason)
{
    public bool Finished => FinishReason is not null;
}
