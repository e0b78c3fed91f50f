using Loom.Hosting;
using Loom.Router.KvEvents;
using Loom.Router.Proxy;
using Loom.Router.Routing;
using Loom.Router.Signals;
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
/// Each side is a <see cref="PdReplicaPool"/>: with --model the prompt's block hashes steer both picks (prefill to the
/// replica caching the prefix, decode to the one that then pulls least), with load and the imbalance guard over them;
/// KV events keep each replica's index exact where it streams them. Everything else (/v1/models, /tokenize, ...) goes
/// to the decode replicas in turn.
/// </summary>
public sealed class PdRouter : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _http;
    private readonly PdRouterOptions _options;
    private readonly ReplicaSignalPoller _signals;
    private readonly PromptReader? _reader;
    private readonly KvEventFollower[] _kvEvents;
    private int _nextDecode, _disposed;

    private PdRouter(PdRouterOptions options)
    {
        _options = options;
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = Timeout.InfiniteTimeSpan, // generations are long; the client's own disconnect cancels
        };
        _reader = options.ModelDirectory is { } dir ? PromptReader.FromModelDirectory(dir) : null;
        var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(options.LogLevel));
        string[] all = [.. options.Prefill.Concat(options.Decode).Select(u => u.TrimEnd('/')).Distinct()];
        _signals = new ReplicaSignalPoller(options.MetricsPollInterval, loggers.CreateLogger<ReplicaSignalPoller>());
        foreach (var address in all) _signals.Add(address);
        var policy = options.LoadBalancing == "round_robin" ? null : options.Policy;
        Prefill = new PdReplicaPool(PdRole.Prefill, options.Prefill, _signals, policy, options.PrefixIndexCapacityBlocks);
        Decode = new PdReplicaPool(PdRole.Decode, options.Decode, _signals, policy, options.PrefixIndexCapacityBlocks);
        _kvEvents = options.KvEvents ? [.. FollowersOf(Prefill, loggers), .. FollowersOf(Decode, loggers)] : [];
        _app = Build(options);
    }

    /// <summary>e.g. http://127.0.0.1:41234 (no trailing slash).</summary>
    public string BaseUrl => _app.Urls.First().TrimEnd('/');

    public PdReplicaPool Prefill { get; }
    public PdReplicaPool Decode { get; }
    public PdRouterMetrics Metrics { get; } = new();

    /// <summary>Scrapes every replica's /metrics now instead of waiting for the next poll (tests).</summary>
    public Task PollSignalsAsync() => _signals.PollOnceAsync();

    public static async Task<PdRouter> StartAsync(PdRouterOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var router = new PdRouter(options);
        await router._signals.PollOnceAsync(cancellationToken); // the first pick already knows block sizes and queues
        router._signals.Start();
        foreach (var follower in router._kvEvents) follower.Start();
        await router._app.StartAsync(cancellationToken);
        return router;
    }

    private KvEventFollower[] FollowersOf(PdReplicaPool pool, ILoggerFactory loggers) =>
        [.. pool.Addresses.Select((address, i) => new KvEventFollower(address, pool.IndexOf(i), _signals, _options.MetricsPollInterval,
            loggers.CreateLogger<KvEventFollower>()))];

    private WebApplication Build(PdRouterOptions options)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(options.LogLevel);
        builder.Services.AddSingleton<IHostLifetime, OwnerControlledLifetime>(); // signals are the CLI's business
        builder.Services.AddRoutingCore();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.AddServerHeader = false);
        builder.WebHost.UseUrls(ListenAddress.Url(options.Host, options.Port));
        var app = builder.Build();
        app.UseRouting();
        app.MapGet("/health", HealthAsync);
        app.MapGet("/metrics", MetricsAsync);
        app.MapPost("/v1/completions", c => UnlessUnreachableAsync(c, () => DisaggregateAsync(c, chat: false)));
        app.MapPost("/v1/chat/completions", c => UnlessUnreachableAsync(c, () => DisaggregateAsync(c, chat: true)));
        app.MapFallback(c => UnlessUnreachableAsync(c, () => ForwardAsync(c, NextDecode())));
        return app;
    }

    private string NextDecode() => Decode.Addresses[(int)((uint)Interlocked.Increment(ref _nextDecode) % (uint)Decode.Addresses.Count)];

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
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        var body = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        JsonObject request;
        try
        {
            request = JsonNode.Parse(body.Span) as JsonObject ?? throw new JsonException("The request body must be a JSON object.");
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

        string path = context.Request.Path.Value!;
        var prompt = PromptOf(path, body.Span);
        if (await PrefillAsync(context, path, request, chat, prompt) is not { } kv) return;
        request["kv_transfer_params"] = kv;
        using var decode = Assign(Decode, prompt);
        using var decodeRequest = new HttpRequestMessage(HttpMethod.Post, decode.Address + path) { Content = Json(request) };
        using var decodeReply = await _http.SendAsync(decodeRequest, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        await CopyAsync(decodeReply, context.Response, context.RequestAborted);
    }

    /// <summary>The prefill leg; its replica's <c>kv_transfer_params</c>, or null once its error (or ours) is the answer.</summary>
    private async Task<JsonObject?> PrefillAsync(HttpContext context, string path, JsonObject request, bool chat, RoutedPrompt prompt)
    {
        using var prefill = Assign(Prefill, prompt);
        using var reply = await _http.PostAsync(prefill.Address + path, Json(PrefillBody(request, chat)), context.RequestAborted);
        if (reply.StatusCode != HttpStatusCode.OK)
        {
            await CopyAsync(reply, context.Response, context.RequestAborted); // the prefill replica's own error
            return null;
        }
        var answer = await JsonNode.ParseAsync(await reply.Content.ReadAsStreamAsync(context.RequestAborted), cancellationToken: context.RequestAborted);
        if (answer?["kv_transfer_params"] is JsonObject kv) return (JsonObject)kv.DeepClone();
        await ErrorAsync(context.Response, 502, "server_error", "prefill_without_kv",
            $"The prefill replica {prefill.Address} answered without kv_transfer_params: is it running with --kv-role prefill?");
        return null;
    }

    private PdAssignment Assign(PdReplicaPool pool, RoutedPrompt prompt)
    {
        var assignment = pool.Assign(prompt.Blocks);
        Metrics.ObserveDecision(pool.Role, assignment, prompt.BlockSize, prompt.Known);
        return assignment;
    }

    /// <summary>The prompt's block hashes as the replicas' prefix caches see them; none without --model or for a body the router cannot read.</summary>
    private RoutedPrompt PromptOf(string path, ReadOnlySpan<byte> body)
    {
        int blockSize = PromptHashing.BlockSizeOf(_options.BlockSize, _signals, Prefill.Addresses);
        var read = _reader?.Read(path, body);
        return new RoutedPrompt(read is { } p ? PromptBlocks.Of(p.Tokens, blockSize, p.CacheSalt) : PromptBlocks.None, blockSize);
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

    private async Task MetricsAsync(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await Metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
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
        foreach (var follower in _kvEvents) await follower.DisposeAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _signals.DisposeAsync();
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

    /// <summary>The served model's directory: the router hashes prompts into blocks for prefix affinity; null = load only.</summary>
    public string? ModelDirectory { get; init; }

    /// <summary>Tokens per KV block on the replicas; null = read from their cache_config_info.</summary>
    public int? BlockSize { get; init; }

    /// <summary>cache_aware (<see cref="Policy"/> on both sides) or round_robin (replicas in turn, as before).</summary>
    public string LoadBalancing { get; init; } = "cache_aware";

    public RoutingPolicyOptions Policy { get; init; } = new();

    /// <summary>Follow the KV cache events of replicas that stream them, so their prefix indexes are exact.</summary>
    public bool KvEvents { get; init; } = true;

    public TimeSpan MetricsPollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Blocks each replica's prefix index remembers.</summary>
    public int PrefixIndexCapacityBlocks { get; init; } = 1 << 20;

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
        if (LoadBalancing is not ("cache_aware" or "round_robin"))
            throw new ArgumentException($"--policy with --pd-disaggregation must be cache_aware or round_robin, got '{LoadBalancing}'.", "--policy");
        if (BlockSize is < 1) throw new ArgumentException($"--block-size must be at least 1, got {BlockSize}.", "--block-size");
        if (MetricsPollInterval <= TimeSpan.Zero) throw new ArgumentException("--metrics-poll-interval must be positive.", "--metrics-poll-interval");
        if (PrefixIndexCapacityBlocks < 1) throw new ArgumentException("The prefix index capacity must be at least 1 block.", "--prefix-index-blocks");
        Policy.Validate();
    }
}
