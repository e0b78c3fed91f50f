using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Server.Hosting;
using Spectre.Console;

namespace Loom.Cli;

/// <summary>
/// `loom serve`: the OpenAI-compatible server. Listens at once (503 while the model loads, with a progress bar on
/// stderr), prints one line saying where it listens, and drains on SIGTERM / Ctrl-C.
/// </summary>
public sealed class ServeCommand : ICliCommand
{
    public static int Order => 10;

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model directory (Hugging Face layout) or .gguf file.", DefaultValueFactory = _ => "models/demo" };
        var host = new Option<string>("--host") { Description = "Address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port (0 = any free port).", DefaultValueFactory = _ => 8000 };
        var servedName = new Option<string?>("--served-model-name") { Description = "Name clients use in \"model\" (default: the directory name)." };
        var maxModelLen = new Option<int?>("--max-model-len") { Description = "Prompt + output limit (default: the model's)." };
        var maxNumSeqs = new Option<int>("--max-num-seqs") { Description = "Most sequences in one step.", DefaultValueFactory = _ => 64 };
        var maxBatched = new Option<int>("--max-num-batched-tokens") { Description = "Token budget of one step.", DefaultValueFactory = _ => 512 };
        var kvMemory = new Option<string?>("--kv-cache-memory") { Description = "KV cache size in bytes; accepts KiB/MiB/GiB suffixes (e.g. 512MiB)." };
        var prefix = new Option<bool>("--enable-prefix-caching") { Description = "Reuse KV blocks of shared prompt prefixes (default on).", DefaultValueFactory = _ => true };
        var noPrefix = new Option<bool>("--no-enable-prefix-caching") { Description = "Turn prefix caching off." };
        var noChunked = new Option<bool>("--no-enable-chunked-prefill") { Description = "Schedule each prompt whole in one step (prompts over --max-num-batched-tokens are then rejected)." };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer <key>' on /v1 (default: $LOOM_API_KEY)." };
        var maxWaiting = new Option<int>("--max-waiting") { Description = "Waiting sequences beyond this get 503.", DefaultValueFactory = _ => 1024 };
        var shutdown = new Option<double>("--shutdown-timeout") { Description = "Seconds running requests get to finish on SIGTERM.", DefaultValueFactory = _ => 30 };
        var quantization = QuantizationOption.Create();
        var device = new Option<string>("--device") { Description = "Backend: auto, cpu, cuda.", DefaultValueFactory = _ => "auto" };
        var command = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API.")
        {
            model, host, port, servedName, maxModelLen, maxNumSeqs, maxBatched, kvMemory, prefix, noPrefix, noChunked, apiKey, maxWaiting, shutdown, quantization, device,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            var engineOptions = new EngineOptions
            {
                MaxNumSeqs = parse.GetValue(maxNumSeqs),
                MaxNumBatchedTokens = parse.GetValue(maxBatched),
                MaxModelLen = parse.GetValue(maxModelLen),
                KvCacheBytes = parse.GetValue(kvMemory) is { } kv ? ParseBytes(kv) : null,
                EnablePrefixCaching = parse.GetValue(prefix) && !parse.GetValue(noPrefix),
                EnableChunkedPrefill = !parse.GetValue(noChunked),
            };
            var serverOptions = new ServerOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ServedModelNames = parse.GetValue(servedName) is { } name ? [name] : [],
                ApiKey = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("LOOM_API_KEY"),
                MaxNumSeqs = engineOptions.MaxNumSeqs,
                MaxWaiting = parse.GetValue(maxWaiting),
                ShutdownTimeout = TimeSpan.FromSeconds(parse.GetValue(shutdown)),
            };
            var loader = new LoaderOptions
            {
                Backend = parse.GetValue(device)!,
                Engine = engineOptions,
                Quantization = QuantizationOption.Parse(parse.GetValue(quantization)),
            };
            return await RunAsync(parse.GetValue(model)!, serverOptions, loader, parse.GetValue(servedName), ct);
        }));
        return command;
    }

    private static async Task<int> RunAsync(string modelDir, ServerOptions options, LoaderOptions loader, string? servedName,
        CancellationToken cancellationToken)
    {
        var error = Console.Error;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(error) });
        var loadProgress = new Progress<double>();
        await using var server = await LoomServer.StartAsync(options, _ => Task.Run(() =>
        {
            var model = ModelLoader.Load(modelDir, loader with { Log = error.WriteLine }, loadProgress);
            return EngineHost.Start(model, loader.Engine, servedName);
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

        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        using var onCancel = cancellationToken.Register(() => stop.TrySetResult());
        await stop.Task;
        error.WriteLine($"Draining: finishing running requests (up to {options.ShutdownTimeout.TotalSeconds:0}s)...");
        await server.DrainAsync();
        return 0;
    }

    /// <summary>"536870912", "512MiB", "2GiB", "1.5GB" -> bytes (binary multiples for both spellings).</summary>
    public static long ParseBytes(string text)
    {
        var t = text.Trim();
        int split = t.Length;
        while (split > 0 && char.IsLetter(t[split - 1])) split--;
        long unit = t[split..].ToUpperInvariant() switch
        {
            "" or "B" => 1L,
            "K" or "KB" or "KIB" => 1L << 10,
            "M" or "MB" or "MIB" => 1L << 20,
            "G" or "GB" or "GIB" => 1L << 30,
            "T" or "TB" or "TIB" => 1L << 40,
            _ => throw new CliUsageException($"--kv-cache-memory: unknown unit in '{text}' (use B, KiB, MiB, GiB)."),
        };
        if (!double.TryParse(t[..split], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0)
            throw new CliUsageException($"--kv-cache-memory: '{text}' is not a positive size.");
        return (long)(value * unit);
    }
}
