namespace Loom.Server.Api;

/// <summary>
/// A request the server refuses, carried to the error middleware which writes OpenAI's error shape
/// <c>{"error": {"message", "type", "param", "code"}}</c> with <see cref="Status"/>.
/// </summary>
public sealed class ApiException(int status, string type, string message, string? param = null, string? code = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    /// <summary>Seconds for a Retry-After header (503 only).</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiException BadRequest(string message, string? param = null) =>
        new(400, "invalid_request_error", message, param);

    public static ApiException Unauthorized() =>
        new(401, "authentication_error", "Missing or invalid API key: send 'Authorization: Bearer <key>'.", null, "invalid_api_key");

    public static ApiException ModelNotFound(string model) =>
        new(404, "not_found_error", $"The model '{model}' does not exist.", "model", "model_not_found");

    public static ApiException TooLarge(long limit) =>
        new(413, "invalid_request_error", $"The request body is larger than the limit of {limit} bytes.", null, "request_too_large");

    /// <summary>503 without Retry-After: the engine loop stopped for good; only a restart (the supervisor's) helps.</summary>
    public static ApiException EngineDead(string detail) =>
        new(503, "service_unavailable_error", "The engine has failed and is not serving: " + detail, null, "engine_dead");

    /// <summary>421: the Host header names a server this one is not (DNS rebinding, see HostFilter).</summary>
    public static ApiException MisdirectedHost(string host) =>
        new(421, "invalid_request_error",
            $"The Host '{host}' is not served here; start the server with --allowed-hosts to accept it.", null, "invalid_host");

    /// <summary>415: a JSON endpoint got a body that does not say it is JSON (a CORS "simple request" says text/plain).</summary>
    public static ApiException UnsupportedMediaType(string? contentType) =>
        new(415, "invalid_request_error",
            $"Content-Type must be application/json, got '{contentType ?? "none"}'.", null, "unsupported_media_type");

    public static ApiException Unavailable(string message, string code, int retryAfterSeconds) =>
        new(503, "service_unavailable_error", message, null, code) { RetryAfterSeconds = retryAfterSeconds };
}
