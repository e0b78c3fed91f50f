using Loom.Hosting;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Loom.Router.Disaggregation;

/// <summary>
/// <c>loom router --pd-disaggregation</c>: each completion or chat request goes first to a prefill replica (stream off,
/// max_tokens 1, <c>kv_transfer_params: {"do_remote_decode": true}</c>), then, with the <c>kv_transfer_params</c> of
/// that reply, to a decode replica, whose answer (streamed or whole) is passed through untouched. That is vLLM's
/// disaggregated proxy and SGLang's PD router; the decode replica pulls the KV over gRPC from the prefill replica.
/// Replicas are taken in turn on each side. Everything else (/v1/models, /tokenize, ...) goes to a decode replica.
/// </summary>
public sealed class PdRouter : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _http;
    private readonly PdRouterOptions _options;
    private int _nextPrefill, _nextDecode, _disposed;

    private PdRouter(PdRouterOptions options)
    {
        _options = options;
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = Timeout.InfiniteTimeSpan, // generations are long; the client's own disconnect cancels
        };
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(options.LogLevel);
        builder.Services.AddSingleton<IHostLifetime, OwnerControlledLifetime>(); // signals are the CLI's business
        builder.Services.AddRoutingCore();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.AddServerHeader = false);
        builder.WebHost.UseUrls(ListenAddress.Url(options.Host, options.Port));
        _app = builder.Build();
        _app.UseRouting();
        _app.MapGet("/health", HealthAsync);
        _app.MapPost("/v1/completions", c => UnlessUnreachableAsync(c, () => DisaggregateAsync(c, chat: false)));
        _app.MapPost("/v1/chat/completions", c => UnlessUnreachableAsync(c, () => DisaggregateAsync(c, chat: true)));
        _app.MapFallback(c => UnlessUnreachableAsync(c, () => ForwardAsync(c, Next(_options.Decode, ref _nextDecode))));
    }

    /// <summary>e.g. http://127.0.0.1:41234 (no trailing slash).</summary>
    public string BaseUrl => _app.Urls.First().TrimEnd('/');

    public static async Task<PdRouter> StartAsync(PdRouterOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var router = new PdRouter(options);
        await router._app.StartAsync(cancellationToken);
        return router;
    }

    private static string Next(IReadOnlyList<string> replicas, ref int cursor) =>
        replicas[(int)((uint)Interlocked.Increment(ref cursor) % (uint)replicas.Count)].TrimEnd('/');

    /// <summary>A replica that cannot be reached before the answer began is a 502 in OpenAI's shape, not a dropped connection.</summary>
    private static async Task UnlessUnreachableAsync(HttpContext context, Func<Task> handle)
    {
        try
        {
            await handle();
        }
        catch (HttpRequestException e) when (!context.Response.HasStarted)
        {
            await ErrorAsync(context.Response, 502, "server_error", "replica_unreachable", $"A replica could not be reached: {e.Message}");
        }
    }

    private async Task DisaggregateAsync(HttpContext context, bool chat)
    {
        JsonObject request;
        try
        {
            request = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted) as JsonObject
                ?? throw new JsonException("The request body must be a JSON object.");
        }
        catch (JsonException e)
        {
            await ErrorAsync(context.Response, 400, "invalid_request_error", "invalid_json", $"The request body is not valid JSON: {e.Message}");
            return;
        }
        if (request.ContainsKey("kv_transfer_params"))
        {
            await ErrorAsync(context.Response, 400, "invalid_request_error", "invalid_value",
                "kv_transfer_params is set by the P/D router itself; send the request without it.", "kv_transfer_params");
            return;
        }

        string prefill = Next(_options.Prefill, ref _nextPrefill), decode = Next(_options.Decode, ref _nextDecode);
        string path = context.Request.Path.Value!;
        using var prefillReply = await _http.PostAsync(prefill + path, Json(PrefillBody(request, chat)), context.RequestAborted);
        if (prefillReply.StatusCode != HttpStatusCode.OK)
        {
            await CopyAsync(prefillReply, context.Response, context.RequestAborted); // the prefill replica's own error
            return;
        }
        var reply = await JsonNode.ParseAsync(await prefillReply.Content.ReadAsStreamAsync(context.RequestAborted), cancellationToken: context.RequestAborted);
        if (reply?["kv_transfer_params"] is not JsonObject kv)
        {
            await ErrorAsync(context.Response, 502, "server_error", "prefill_without_kv",
                $"The prefill replica {prefill} answered without kv_transfer_params: is it running with --kv-role prefill?");
            return;
        }
        request["kv_transfer_params"] = kv.DeepClone();
        using var decodeRequest = new HttpRequestMessage(HttpMethod.Post, decode + path) { Content = Json(request) };
        using var decodeReply = await _http.SendAsync(decodeRequest, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        await CopyAsync(decodeReply, context.Response, context.RequestAborted);
    }

    /// <summary>The prefill leg: the same request, whole, one token, asking the replica to hold its KV for a decoder.</summary>
    private static JsonObject PrefillBody(JsonObject request, bool chat)
    {
        var body = (JsonObject)request.DeepClone();
        body["stream"] = false;
        body.Remove("stream_options");
        body["max_tokens"] = 1;
        if (chat) body.Remove("max_completion_tokens");
        body.Remove("min_tokens");
        body["kv_transfer_params"] = new JsonObject { ["do_remote_decode"] = true };
        return body;
    }

    private async Task ForwardAsync(HttpContext context, string replica)
    {
        using var message = new HttpRequestMessage(new HttpMethod(context.Request.Method), replica + context.Request.Path + context.Request.QueryString);
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            message.Content = new StreamContent(context.Request.Body);
            if (context.Request.ContentType is { } type) message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
        }
        using var reply = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        await CopyAsync(reply, context.Response, context.RequestAborted);
    }

    private static async Task CopyAsync(HttpResponseMessage reply, HttpResponse response, CancellationToken cancellationToken)
    {
        response.StatusCode = (int)reply.StatusCode;
        if (reply.Content.Headers.ContentType is { } type) response.ContentType = type.ToString();
        if (reply.Headers.CacheControl is { } cache) response.Headers.CacheControl = cache.ToString();
        await response.StartAsync(cancellationToken);
        await using var body = await reply.Content.ReadAsStreamAsync(cancellationToken);
        await body.CopyToAsync(response.Body, cancellationToken); // SSE chunks are flushed as they come
    }

    /// <summary>200 when every prefill and decode replica answers its /health with 200; else 503 naming the first that does not.</summary>
    private async Task HealthAsync(HttpContext context)
    {
        foreach (var replica in _options.Prefill.Concat(_options.Decode))
        {
            try
            {
                using var probe = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                using var reply = await _http.GetAsync(replica.TrimEnd('/') + "/health", probe.Token);
                if (reply.StatusCode == HttpStatusCode.OK) continue;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            await ErrorAsync(context.Response, 503, "server_error", "no_healthy_replica", $"Replica {replica} is not healthy.");
            return;
        }
        context.Response.StatusCode = 200;
    }

    private static StringContent Json(JsonNode body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private static Task ErrorAsync(HttpResponse response, int status, string type, string code, string message, string? param = null)
    {
        response.StatusCode = status;
        response.ContentType = "application/json";
        var error = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code };
        return response.WriteAsync(new JsonObject { ["error"] = error }.ToJsonString());
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
        _http.Dispose();
    }
}

/// <summary>What <c>loom router --pd-disaggregation</c> is configured by.</summary>
public sealed record PdRouterOptions
{
    /// <summary>Base URLs of replicas started with <c>--kv-role prefill</c> (or both).</summary>
    public required IReadOnlyList<string> Prefill { get; init; }

    /// <summary>Base URLs of replicas started with <c>--kv-role decode</c> (or both).</summary>
    public required IReadOnlyList<string> Decode { get; init; }

    public string Host { get; init; } = "127.0.0.1";

    /// <summary>0 = any free port.</summary>
    public int Port { get; init; } = 8080;

    public LogLevel LogLevel { get; init; } = LogLevel.Warning;

    public void Validate()
    {
        foreach (var (flag, urls) in new[] { ("--prefill", Prefill), ("--decode", Decode) })
        {
            if (urls is null || urls.Count == 0) throw new ArgumentException($"--pd-disaggregation needs at least one {flag} URL.", flag);
            foreach (var url in urls)
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                    throw new ArgumentException($"{flag} '{url}' is not an http(s) URL.", flag);
        }
        if (Port is < 0 or > 65535) throw new ArgumentException($"--port must lie in [0, 65535], got {Port}.", "--port");
    }
}
