using Loom.Hosting;
using Loom.Server.Endpoints;
using Loom.Server.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Loom.Server.Hosting;

/// <summary>
/// The OpenAI-compatible HTTP server, started in-process: <c>await using var server = await LoomServer.StartAsync(options, model)</c>.
/// Port 0 picks a free port (<see cref="BaseUrl"/> tells which). Signals are not hooked here: the owner calls
/// <see cref="DrainAsync"/> (the serve command does on SIGTERM / Ctrl-C), then disposes.
/// </summary>
public sealed class LoomServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ServerState _state;
    private int _disposed;

    private readonly KvTransfer.KvTransferServer? _kvServer;

    private LoomServer(WebApplication app, ServerState state, ServerMetrics metrics, Task modelReady, KvTransfer.KvTransferServer? kvServer)
    {
        _app = app;
        _kvServer = kvServer;
        _state = state;
        Metrics = metrics;
        ModelReady = modelReady;
        BaseUrl = app.Urls.First().TrimEnd('/');
    }

    /// <summary>e.g. http://127.0.0.1:41234 (no trailing slash).</summary>
    public string BaseUrl { get; }

    /// <summary>Completes when the model is loaded and requests are served; faults if loading failed.</summary>
    public Task ModelReady { get; }

    public ServerMetrics Metrics { get; }

    /// <summary>The port of the gRPC KV service (--kv-port), if it runs.</summary>
    public int? KvPort => _kvServer?.Port;

    public ServedModel? Model => _state.Model;

    /// <summary>Start serving a model that is already loaded.</summary>
    public static async Task<LoomServer> StartAsync(ServerOptions options, ServedModel model, CancellationToken cancellationToken = default)
    {
        var server = await StartAsync(options, _ => Task.FromResult(model), cancellationToken);
        await server.ModelReady; // already loaded: serve from the first request on
        return server;
    }

    /// <summary>
    /// Start listening at once and load the model in the background: until <paramref name="loadModel"/> completes,
    /// /health and the API answer 503 with Retry-After.
    /// </summary>
    public static async Task<LoomServer> StartAsync(ServerOptions options, Func<CancellationToken, Task<ServedModel>> loadModel,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loadModel);
        options.Validate();
        var state = new ServerState(options);
        var metrics = new ServerMetrics(() => state.Model?.Engine.GetStats(), () => state.Model?.Engine.Fault is not null,
            () => state.Model?.Engine is Engine.KvEvents.IKvEventSource { KvEventsEnabled: true } ? state.KvPort : null);
        var app = Build(options, state, metrics);
        await app.StartAsync(cancellationToken);
        var kvServer = options.KvPort is null ? null : await KvTransfer.KvTransferServer.StartAsync(options, state, cancellationToken);
        state.KvPort = kvServer?.Port;
        var ready = Task.Run(async () => state.SetModel(await loadModel(cancellationToken)), cancellationToken);
        return new LoomServer(app, state, metrics, ready, kvServer);
    }

    /// <summary>
    /// Stop accepting (new requests get 503), let running requests finish within <paramref name="timeout"/>
    /// (default: ServerOptions.ShutdownTimeout), then abort the rest.
    /// </summary>
    public Task DrainAsync(TimeSpan? timeout = null) => _state.DrainAsync(timeout ?? _state.Options.ShutdownTimeout);

    /// <summary>Aborts whatever still runs, stops Kestrel, and disposes the model if the server owns it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _state.DrainAsync(TimeSpan.Zero);
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (_kvServer is not null) await _kvServer.DisposeAsync();
        try { await ModelReady; } catch { /* a failed load has nothing to dispose */ }
        if (_state.Model?.Owner is { } owner) await owner.DisposeAsync();
    }

    private static WebApplication Build(ServerOptions options, ServerState state, ServerMetrics metrics)
    {
        // The empty builder reads no appsettings/environment and watches no files: the server is configured only by ServerOptions.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(options.LogLevel);
        builder.Services.AddSingleton<IHostLifetime, OwnerControlledLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Services.AddRoutingCore();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = RequestBodyLimit.Upper(options); // lowered per request by RequestGuards
            k.Limits.MaxConcurrentConnections = ConnectionLimit.For(options);
            k.Limits.KeepAliveTimeout = options.KeepAliveTimeout;
        });
        builder.WebHost.UseUrls(ListenAddress.Url(options.Host, options.Port));

        var app = builder.Build();
        var logger = app.Logger;
        state.Logger = logger;
        var guards = new RequestGuards(state);
        app.Use((context, next) => ErrorMiddleware.InvokeAsync(context, () => next(context), state, logger));
        app.Use((context, next) => guards.InvokeAsync(context, () => next(context)));
        if (!string.IsNullOrEmpty(options.ApiKey))
        {
            var check = new ApiKeyCheck(options.ApiKey);
            app.Use((context, next) =>
            {
                if (context.Request.Path.StartsWithSegments("/v1")) check.Require(context);
                return next(context);
            });
        }
        app.UseRouting();
        MapEndpoints(app, state, metrics);
        return app;
    }

    private static void MapEndpoints(WebApplication app, ServerState state, ServerMetrics metrics)
    {
        app.MapPost("/v1/chat/completions", (HttpContext c) => ChatCompletionsEndpoint.HandleAsync(c, state, metrics));
        app.MapPost("/v1/completions", (HttpContext c) => CompletionsEndpoint.HandleAsync(c, state, metrics));
        app.MapGet("/v1/models", (HttpContext c) => InfoEndpoints.ModelsAsync(c, state));
        app.MapPost("/tokenize", (HttpContext c) => InfoEndpoints.TokenizeAsync(c, state));
        app.MapPost("/detokenize", (HttpContext c) => InfoEndpoints.DetokenizeAsync(c, state));
        app.MapGet("/health", (HttpContext c) => InfoEndpoints.HealthAsync(c, state));
        app.MapGet("/metrics", (HttpContext c) => InfoEndpoints.MetricsAsync(c, metrics));
    }
}
