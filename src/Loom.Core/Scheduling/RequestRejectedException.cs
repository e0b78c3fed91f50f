namespace Loom.Core.Scheduling;

/// <summary>A request that can never be served (too long for the model or the KV cache); ParamName is the API field.</summary>
public sealed class RequestRejectedException(string message, string field) : ArgumentException(message, field);
