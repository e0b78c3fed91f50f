using System.CommandLine;
using System.Runtime.InteropServices;
using Loom.Engine.Loading;
using Loom.Engine.ToolCalls;
using Loom.Server.Hosting;
using Spectre.Console;

namespace Loom.Cli;

/// <summary>
/// `loom serve`: the OpenAI-compatible server. Listens at once (503 while the model loads, with a progress bar on
/// stderr), prints one line saying where it listens, and drains on SIGTERM / Ctrl-C.
/// </summary>
public sealed class ServeCommand : ICliCommand
{
    public static Command Create()
    {
        var engine = new EngineOptionSet(online: true);
        var host = new Option<string>("--host") { Description = "Address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port (0 = any free port).", DefaultValueFactory = _ => 8000 };
        var servedName = new Option<string?>("--served-model-name") { Description = "Name clients use in \"model\" (default: the directory name)." };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer <key>' on /v1 (default: $LOOM_API_KEY)." };
        var maxWaiting = new Option<int>("--max-waiting") { Description = "Waiting sequences beyond this get 503.", DefaultValueFactory = _ => 1024 };
        var shutdown = new Option<double>("--shutdown-timeout") { Description = "Seconds running requests get to finish on SIGTERM.", DefaultValueFactory = _ => 30 };
        var noCachedTokens = new Option<bool>("--disable-prompt-tokens-details")
        {
            Description = "Leave usage.prompt_tokens_details.cached_tokens out of responses (multi-tenant servers: cache hits reveal other clients' prompts).",
        };
        var allowedHosts = new Option<string?>("--allowed-hosts")
        {
            Description = "Comma-separated Host header names to answer besides loopback ones (* = any). Default: a loopback bind answers only " +
                "localhost/127.x/[::1] (DNS rebinding); any other bind answers any Host.",
        };
        var maxConnections = new Option<int?>("--max-connections")
        {
            Description = $"Open connections beyond this are closed at once (default {Loom.Server.Hosting.ConnectionLimit.Default}, lower when `ulimit -n` is).",
        };
        var keepAlive = new Option<double>("--keep-alive-timeout") { Description = "Seconds an idle connection is kept open.", DefaultValueFactory = _ => 5 };
        var maxBody = new Option<string?>("--max-request-body")
        {
            Description = "Largest request body, e.g. 8MiB (default: 256 bytes per token of max-model-len, within 2-64 MiB).",
        };
        var toolCallParser = new Option<string?>("--tool-call-parser")
        {
            Description = "How tool calls are read from the model's output (vLLM's names; default: picked from the chat template).",
        };
        toolCallParser.AcceptOnlyFromAmong([.. ToolCallParsers.Names]);
        var kv = new KvTransferOptionSet();
        var command = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API.") { host, port, servedName };
        engine.AddTo(command);
        foreach (var option in new Option[] { apiKey, maxWaiting, shutdown, allowedHosts, maxConnections, keepAlive, maxBody, noCachedTokens, toolCallParser })
            command.Options.Add(option);
        kv.AddTo(command);
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            var loader = kv.Apply(parse, engine.Loader(parse));
            var serverOptions = new ServerOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ServedModelNames = parse.GetValue(servedName) is { } name ? [name] : [],
                ApiKey = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("LOOM_API_KEY"),
                MaxNumSeqs = loader.Engine.MaxNumSeqs,
                MaxWaiting = parse.GetValue(maxWaiting),
                ShutdownTimeout = TimeSpan.FromSeconds(parse.GetValue(shutdown)),
                EnablePromptTokensDetails = !parse.GetValue(noCachedTokens),
                AllowedHosts = ParseHosts(parse.GetValue(allowedHosts)),
                MaxConcurrentConnections = parse.GetValue(maxConnections),
                KeepAliveTimeout = TimeSpan.FromSeconds(parse.GetValue(keepAlive)),
                MaxRequestBodyBytes = parse.GetValue(maxBody) is { } body ? EngineOptionSet.ParseBytes(body, "--max-request-body") : null,
            };
            serverOptions = kv.Apply(parse, serverOptions);
            var parser = parse.GetValue(toolCallParser) is { } parserName ? ToolCallParsers.ByName(parserName) : null;
            return await RunAsync(engine.ModelDir(parse), serverOptions, loader, parse.GetValue(servedName), parser, ct);
        }));
        return command;
    }

    private static async Task<int> RunAsync(string modelDir, ServerOptions options, LoaderOptions loader, string? servedName,
        ToolCallParser? toolCallParser, CancellationToken cancellationToken)
    {
        using var kvFetcher = options.KvRole == KvRole.Prefill ? null : new Loom.Server.KvTransfer.GrpcKvBlockFetcher();
        var error = Console.Error;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(error) });
        var loadProgress = new Progress<double>();
        await using var server = await LoomServer.StartAsync(options, _ => Task.Run(() =>
        {
            var model = ModelLoader.Load(modelDir, loader with { Log = error.WriteLine }, loadProgress);
            // A KV service port also streams KV cache events to routers, so the engine records them.
            var engine = loader.Engine with { EnableKvCacheEvents = options.KvPort is not null };
            return EngineHost.Start(model, engine, servedName, toolCallParser, kvFetcher);
        }), cancellationToken);

        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask($"Loading {Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd('/'))}", maxValue: 1.0);
                loadProgress.ProgressChanged += (_, p) => task.Value = Math.Clamp(p, 0, 1);
                await server.ModelReady;
                task.Value = 1.0;
            });
        Console.WriteLine($"Loom is serving '{server.Model!.Name}' at {server.BaseUrl}/v1 (Ctrl-C to stop)");
        if (server.KvPort is { } kvPort) Console.WriteLine($"KV transfer service (gRPC, --kv-role {options.KvRole.ToString().ToLowerInvariant()}) on port {kvPort}");

        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        using var onCancel = cancellationToken.Register(() => stop.TrySetResult());
        var died = server.Model.Engine.Died;
        await Task.WhenAny(stop.Task, died);
        if (died.IsCompleted)
            error.WriteLine($"The engine failed: {died.Result.InnerException?.Message ?? died.Result.Message}. Draining, then exiting with status 1 so a supervisor restarts the server.");
        else
            error.WriteLine($"Draining: finishing running requests (up to {options.ShutdownTimeout.TotalSeconds:0}s)...");
        await server.DrainAsync();
        return died.IsCompleted ? 1 : 0;
    }

    /// <summary>"a.example, b.example" -> ["a.example", "b.example"]; null stays null (the bind address decides).</summary>
    public static IReadOnlyList<string>? ParseHosts(string? text) =>
        text?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>"536870912", "512MiB", "2GiB", "1.5GB" -> bytes (see <see cref="EngineOptionSet.ParseBytes(string, string)"/>).</summary>
    public static long ParseBytes(string text) => EngineOptionSet.ParseBytes(text);
}
