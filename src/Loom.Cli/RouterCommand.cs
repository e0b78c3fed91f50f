using System.CommandLine;
using System.Runtime.InteropServices;
using Loom.Router.Disaggregation;
using Loom.Router.Hosting;
using Loom.Router.Routing;

namespace Loom.Cli;

/// <summary>
/// `loom router`: an inference-aware reverse proxy in front of Loom (or vLLM) replicas, serving the same OpenAI API.
/// Weights and thresholds default to the Gateway API Inference Extension's scorer weights and SGLang's router thresholds.
/// </summary>
public sealed class RouterCommand : ICliCommand
{
    public static Command Create()
    {
        var defaults = new RoutingPolicyOptions();
        var replicas = new Option<string[]>("--replica")
        {
            Description = "Base URL of a replica, e.g. http://10.0.0.5:8000 (repeat for each; required unless --service-discovery or --pd-disaggregation).",
            AllowMultipleArgumentsPerToken = true,
        };
        var host = new Option<string>("--host") { Description = "Address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port (0 = any free port).", DefaultValueFactory = _ => 8080 };
        var model = new Option<string?>("--model")
        {
            Description = "The served model's directory (tokenizer.json, tokenizer_config.json): enables prefix-cache affinity. Without it, routing uses load alone.",
        };
        var policy = new Option<string>("--policy")
        {
            Description = "cache_aware (queue, KV use and prefix affinity), or round_robin / random for comparison (SGLang's words).",
            DefaultValueFactory = _ => "cache_aware",
        };
        var blockSize = new Option<int?>("--block-size") { Description = "Tokens per KV block on the replicas (default: their loom_cache_config_info / vllm:cache_config_info, else 16)." };
        var queueWeight = new Option<double>("--queue-weight") { Description = "Weight of the waiting-queue scorer (inference extension default 2).", DefaultValueFactory = _ => defaults.QueueWeight };
        var kvWeight = new Option<double>("--kv-cache-weight") { Description = "Weight of the KV-cache-utilization scorer (inference extension default 2).", DefaultValueFactory = _ => defaults.KvCacheWeight };
        var prefixWeight = new Option<double>("--prefix-weight") { Description = "Weight of the prefix-cache scorer (inference extension default 3).", DefaultValueFactory = _ => defaults.PrefixWeight };
        var cacheThreshold = new Option<double>("--cache-threshold")
        {
            Description = "A prompt whose best prefix match covers this fraction of its blocks goes to that replica (SGLang default 0.5).",
            DefaultValueFactory = _ => defaults.CacheThreshold,
        };
        var absThreshold = new Option<int>("--balance-abs-threshold")
        {
            Description = "Imbalance guard: loads (requests in flight) more than this apart ... (SGLang default 32).",
            DefaultValueFactory = _ => defaults.BalanceAbsThreshold,
        };
        var relThreshold = new Option<double>("--balance-rel-threshold")
        {
            Description = "... and the largest more than this times the smallest: the least loaded replica wins (SGLang default 1.0001).",
            DefaultValueFactory = _ => defaults.BalanceRelThreshold,
        };
        var healthInterval = new Option<double>("--health-check-interval") { Description = "Seconds between /health probes of each replica.", DefaultValueFactory = _ => 5 };
        var pollInterval = new Option<double>("--metrics-poll-interval") { Description = "Seconds between scrapes of each replica's /metrics.", DefaultValueFactory = _ => 1 };
        var reactivation = new Option<double>("--reactivation-period")
        {
            Description = "Seconds a replica that refused a connection or is draining stays out of rotation before it is tried again.",
            DefaultValueFactory = _ => 10,
        };
        var kvEvents = new Option<bool>("--kv-events")
        {
            Description = "Follow each replica's KV cache events (gRPC on the replica's --kv-port, which it advertises as loom_kv_events_port on /metrics), so its prefix index is exactly what it caches; replicas without the stream, or with --kv-events false, keep the index of prompts routed there.",
            DefaultValueFactory = _ => true,
        };
        var pd = new Option<bool>("--pd-disaggregation")
        {
            Description = "Prefill/decode disaggregation (SGLang's flag): each request runs its prompt on a --prefill replica, then decodes on a --decode replica that pulls the KV.",
        };
        var prefill = new Option<string[]>("--prefill") { Description = "With --pd-disaggregation: base URL of a replica serving with --kv-role prefill (repeat for each)." };
        var decode = new Option<string[]>("--decode") { Description = "With --pd-disaggregation: base URL of a replica serving with --kv-role decode (repeat for each)." };
        var discovery = new ServiceDiscoveryOptionSet();
        var command = new Command("router", "Route OpenAI API requests across replicas by queue, KV-cache use and prefix-cache affinity.")
        {
            replicas, host, port, model, policy, blockSize, queueWeight, kvWeight, prefixWeight, cacheThreshold, absThreshold, relThreshold,
            healthInterval, pollInterval, reactivation, kvEvents, pd, prefill, decode,
        };
        RoutingPolicyOptions Policy(ParseResult parse) => new()
        {
            QueueWeight = parse.GetValue(queueWeight),
            KvCacheWeight = parse.GetValue(kvWeight),
            PrefixWeight = parse.GetValue(prefixWeight),
            CacheThreshold = parse.GetValue(cacheThreshold),
            BalanceAbsThreshold = parse.GetValue(absThreshold),
            BalanceRelThreshold = parse.GetValue(relThreshold),
        };
        discovery.AddTo(command);
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () => parse.GetValue(pd)
            ? RunDisaggregatedAsync(new PdRouterOptions
            {
                Prefill = parse.GetValue(prefill) ?? [],
                Decode = parse.GetValue(decode) ?? [],
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ModelDirectory = parse.GetValue(model),
                BlockSize = parse.GetValue(blockSize),
                LoadBalancing = parse.GetValue(policy)!,
                Policy = Policy(parse),
                MetricsPollInterval = Seconds(parse.GetValue(pollInterval), "--metrics-poll-interval"),
                KvEvents = parse.GetValue(kvEvents),
            }, parse.GetValue(replicas) is { Length: > 0 } || discovery.Read(parse) is not null, ct)
            : RunAsync(new RouterOptions
            {
                Replicas = parse.GetValue(replicas) ?? [],
                Discovery = discovery.Read(parse),
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ModelDirectory = parse.GetValue(model),
                BlockSize = parse.GetValue(blockSize),
                LoadBalancing = parse.GetValue(policy)!,
                Policy = Policy(parse),
                HealthCheckInterval = Seconds(parse.GetValue(healthInterval), "--health-check-interval"),
                MetricsPollInterval = Seconds(parse.GetValue(pollInterval), "--metrics-poll-interval"),
                ReactivationPeriod = Seconds(parse.GetValue(reactivation), "--reactivation-period"),
                KvEvents = parse.GetValue(kvEvents),
            }, ct)));
        return command;
    }

    private static TimeSpan Seconds(double value, string flag) =>
        double.IsFinite(value) && value > 0 && value < 86400 ? TimeSpan.FromSeconds(value) : throw new CliUsageException($"{flag} must be a positive number of seconds, got {value}.");

    private static async Task<int> RunAsync(RouterOptions options, CancellationToken cancellationToken)
    {
        try
        {
            options.Validate();
        }
        catch (ArgumentException e) // a flag's value: say which, without .NET's "(Parameter ...)" suffix
        {
            throw new CliUsageException(e.ParamName is { } name ? e.Message.Replace($" (Parameter '{name}')", "") : e.Message);
        }
        await using var router = await LoomRouter.StartAsync(options, cancellationToken);
        string affinity = options.LoadBalancing != "cache_aware" ? options.LoadBalancing
            : options.ModelDirectory is null ? "load only (no --model)" : "prefix-cache affinity";
        string over = options.Discovery is { } d ? $"the Ready pods of {d.LabelSelector}" : $"{options.Replicas.Count} replicas";
        Console.WriteLine($"Loom router at {router.BaseUrl}/v1 over {over}, {affinity} (Ctrl-C to stop)");
        await UntilStoppedAsync(cancellationToken);
        return 0;
    }

    private static async Task<int> RunDisaggregatedAsync(PdRouterOptions options, bool replicasGiven, CancellationToken cancellationToken)
    {
        if (replicasGiven) throw new CliUsageException("--replica and --service-discovery do not apply with --pd-disaggregation: name the replicas with --prefill and --decode.");
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new CliUsageException(e.ParamName is { } name ? e.Message.Replace($" (Parameter '{name}')", "") : e.Message);
        }
        await using var router = await PdRouter.StartAsync(options, cancellationToken);
        string picking = options.LoadBalancing != "cache_aware" ? options.LoadBalancing
            : options.ModelDirectory is null ? "load only (no --model)" : "prefix-cache affinity";
        Console.WriteLine($"Loom P/D router at {router.BaseUrl}/v1: prefill on {options.Prefill.Count}, decode on {options.Decode.Count} replicas, {picking} (Ctrl-C to stop)");
        await UntilStoppedAsync(cancellationToken);
        return 0;
    }

    private static async Task UntilStoppedAsync(CancellationToken cancellationToken)
    {
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        using var onCancel = cancellationToken.Register(() => stop.TrySetResult());
        await stop.Task;
    }
}
