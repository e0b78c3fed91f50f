namespace Loom.Core.Scheduling;

/// <summary>
/// A request that can never be served (too long for the model's context or the KV cache). ParamName is the API field;
/// <see cref="Code"/> names the rule for the API's error body (<see cref="ContextWindow.ExceededCode"/>, or null).
/// The message is written for users and names the field itself, so it carries no "(Parameter ...)" suffix.
/// </summary>
public sealed class RequestRejectedException : ArgumentException
{
    private readonly string _message;

    public RequestRejectedException(string message, string field, string? code = null) : base(message, field)
    {
        _message = message;
        Code = code;
    }

    public string? Code { get; }

    public override string Message => _message;
}
