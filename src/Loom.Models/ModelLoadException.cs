namespace Loom.Models;

/// <summary>
/// "This checkpoint can't be loaded": a missing or malformed file, an unsupported architecture or option, or tensors
/// that disagree with the config. The message is written for the user (it names the file, field or tensor); the CLI
/// prints it without a stack trace and exits with status 1.
/// </summary>
public sealed class ModelLoadException : Exception
{
    public ModelLoadException(string message) : base(message) { }
    public ModelLoadException(string message, Exception inner) : base(message, inner) { }
}
