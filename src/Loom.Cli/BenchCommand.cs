using System.CommandLine;
using System.Globalization;
using Loom.Bench.Metrics;
using Loom.Bench.Reporting;
using Loom.Bench.Serving;
using Spectre.Console;

namespace Loom.Cli;

/// <summary>
/// `loom bench`: `serve` drives any OpenAI-compatible server with vLLM's `bench serve` flags and result keys;
/// `throughput` runs a model offline in this process, as `vllm bench throughput` does.
/// </summary>
public sealed partial class BenchCommand : ICliCommand
{
    public static Command Create()
    {
        var command = new Command("bench",
            "Benchmark Loom the way the field does. 'serve': latency and throughput of a running OpenAI-compatible server "
            + "under a request-rate sweep (TTFT, TPOT, ITL, E2EL, goodput; JSON and PNG plots). 'throughput': offline, in "
            + "process, N requests of given lengths through the engine at once (requests/s, tokens/s).");
        command.Subcommands.Add(CreateServe());
        command.Subcommands.Add(CreateThroughput());
        return command;
    }

    private static Command CreateServe()
    {
        var baseUrl = new Option<string[]>("--base-url")
        {
            Description = "Server base URL; repeat (or list several) to measure servers side by side, runs interleaved.",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => ["http://127.0.0.1:8000"],
        };
        var label = new Option<string[]>("--label") { Description = "Name of each --base-url's results (same order).", AllowMultipleArgumentsPerToken = true };
        var endpoint = new Option<string>("--endpoint") { Description = "/v1/completions or /v1/chat/completions.", DefaultValueFactory = _ => "/v1/completions" };
        var model = new Option<string?>("--model") { Description = "Model name or local checkpoint folder (also gives tokenizer and vocabulary)." };
        var servedName = new Option<string?>("--served-model-name") { Description = "Name sent as \"model\" (default: first id of GET /v1/models, else --model)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with tokenizer.json (text prompts, ShareGPT files)." };
        var vocabSize = new Option<int?>("--vocab-size") { Description = "Vocabulary size for random token prompts when no tokenizer/checkpoint is given and the server does not report one (Loom: vocab_size, llama-server: meta.n_vocab in /v1/models)." };
        var promptFormat = new Option<string>("--prompt-format") { Description = "auto | ids | text (auto: ids for completions, text for chat).", DefaultValueFactory = _ => "auto" };
        promptFormat.AcceptOnlyFromAmong("auto", "ids", "text");
        var datasetName = new Option<string>("--dataset-name") { Description = "random | sharegpt | prefix | burstgpt.", DefaultValueFactory = _ => "random" };
        datasetName.AcceptOnlyFromAmong("random", "sharegpt", "prefix", "prefix_repetition", "burstgpt");
        var datasetPath = BenchWorkloadOptions.DatasetPath("ShareGPT JSON or BurstGPT CSV (default: synthetic).");
        var numPrompts = BenchWorkloadOptions.NumPrompts(1000);
        var inputLen = new Option<int>("--random-input-len") { Description = "Prompt tokens per request (random dataset).", DefaultValueFactory = _ => 1024 };
        var outputLen = new Option<int>("--random-output-len") { Description = "Output tokens per request (random dataset).", DefaultValueFactory = _ => 128 };
        var rangeRatio = BenchWorkloadOptions.RangeRatio();
        var prefixLen = new Option<int>("--random-prefix-len") { Description = "Random tokens shared by every prompt.", DefaultValueFactory = _ => 0 };
        var (repPrefixLen, repSuffixLen, repNumPrefixes) = BenchWorkloadOptions.PrefixRepetition();
        var repOutputLen = new Option<int>("--prefix-repetition-output-len") { Description = "Output tokens per request (prefix_repetition dataset).", DefaultValueFactory = _ => 128 };
        var sharegptOutputLen = new Option<int?>("--sharegpt-output-len") { Description = "Override every ShareGPT output length." };
        var sharegptMaxTotal = BenchWorkloadOptions.ShareGptMaxTotalLen();
        var burstReplay = new Option<bool>("--burstgpt-replay") { Description = "Send at the BurstGPT trace's own timestamps instead of --request-rate." };
        var traceScale = new Option<double>("--trace-time-scale") { Description = "Replay the trace this many times faster.", DefaultValueFactory = _ => 1.0 };
        var requestRate = new Option<string>("--request-rate") { Description = "Requests/s, or a sweep such as 1,2,4,inf (inf: all at once).", DefaultValueFactory = _ => "inf" };
        var burstiness = new Option<string>("--burstiness") { Description = "Gamma shape of arrival gaps: 1 Poisson, <1 burstier, inf uniform.", DefaultValueFactory = _ => "1.0" };
        var maxConcurrency = new Option<int?>("--max-concurrency") { Description = "Most requests in flight at once." };
        var goodput = new Option<string[]>("--goodput") { Description = "SLOs in ms: ttft:500 tpot:50 e2el:2000 (or ttft_ms=500).", AllowMultipleArgumentsPerToken = true };
        var percentiles = new Option<string>("--metric-percentiles") { Description = "Comma-separated percentiles to report.", DefaultValueFactory = _ => "50,90,99" };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Ask the server to ignore EOS so outputs have exactly the requested length." };
        var seed = BenchWorkloadOptions.Seed();
        var warmups = new Option<int>("--num-warmups") { Description = "Extra unmeasured requests per server before the runs.", DefaultValueFactory = _ => 0 };
        var readyTimeout = new Option<int>("--ready-check-timeout-sec") { Description = "Seconds to wait for the server to answer before the run starts.", DefaultValueFactory = _ => 600 };
        var requestTimeout = new Option<int>("--request-timeout-sec") { Description = "Seconds one request may take before it counts as failed.", DefaultValueFactory = _ => 6 * 60 * 60 };
        var saveResult = new Option<bool>("--save-result") { Description = "Write one vLLM-style JSON per run and the PNG plots." };
        var resultDir = new Option<string?>("--result-dir") { Description = "Folder for --save-result files (default: the current folder)." };
        var resultFilename = new Option<string?>("--result-filename") { Description = "File name for the --save-result JSON (default: built from the label, rate and time)." };
        var plot = new Option<bool?>("--plot") { Description = "Write PNG plots (default: with --save-result)." };
        var metadata = BenchWorkloadOptions.Metadata();
        var noProgress = BenchWorkloadOptions.DisableProgress();

        var command = new Command("serve", "Drive an OpenAI-compatible server with a workload; report TTFT, TPOT, ITL, E2EL, throughput and goodput.")
        {
            baseUrl, label, endpoint, model, servedName, tokenizer, vocabSize, promptFormat, datasetName, datasetPath, numPrompts,
            inputLen, outputLen, rangeRatio, prefixLen, repPrefixLen, repSuffixLen, repNumPrefixes, repOutputLen, sharegptOutputLen,
            sharegptMaxTotal, burstReplay, traceScale, requestRate, burstiness, maxConcurrency, goodput, percentiles, ignoreEos, seed,
            warmups, readyTimeout, requestTimeout, saveResult, resultDir, resultFilename, plot, metadata, noProgress,
        };
        command.SetAction(async (parse, cancellationToken) => await Guard(async () =>
        {
            var settings = new ServeSettings
            {
                BaseUrls = parse.GetValue(baseUrl)!.SelectMany(SplitList).ToArray(),
                Labels = (parse.GetValue(label) ?? []).SelectMany(SplitList).ToArray(),
                Endpoint = parse.GetValue(endpoint)!,
                Model = parse.GetValue(model),
                ServedModelName = parse.GetValue(servedName),
                Tokenizer = parse.GetValue(tokenizer),
                VocabSize = parse.GetValue(vocabSize),
                PromptFormat = parse.GetValue(promptFormat)!,
                DatasetName = parse.GetValue(datasetName)!,
                DatasetPath = parse.GetValue(datasetPath),
                NumPrompts = Positive(parse.GetValue(numPrompts), "--num-prompts"),
                RandomInputLen = parse.GetValue(inputLen),
                RandomOutputLen = parse.GetValue(outputLen),
                RandomRangeRatio = parse.GetValue(rangeRatio),
                RandomPrefixLen = parse.GetValue(prefixLen),
                PrefixRepetitionPrefixLen = parse.GetValue(repPrefixLen),
                PrefixRepetitionSuffixLen = parse.GetValue(repSuffixLen),
                PrefixRepetitionNumPrefixes = parse.GetValue(repNumPrefixes),
                PrefixRepetitionOutputLen = parse.GetValue(repOutputLen),
                ShareGptOutputLen = parse.GetValue(sharegptOutputLen),
                ShareGptMaxTotalLen = parse.GetValue(sharegptMaxTotal),
                BurstGptReplay = parse.GetValue(burstReplay),
                TraceTimeScale = parse.GetValue(traceScale),
                RequestRates = RequestRates.Parse(parse.GetValue(requestRate)!),
                Burstiness = RequestRates.ParseScalar(parse.GetValue(burstiness)!, "--burstiness"),
                MaxConcurrency = parse.GetValue(maxConcurrency),
                Goodput = GoodputSlo.Parse(parse.GetValue(goodput) ?? []),
                MetricPercentiles = ParsePercentiles(parse.GetValue(percentiles)!),
                IgnoreEos = parse.GetValue(ignoreEos),
                Seed = parse.GetValue(seed),
                NumWarmups = parse.GetValue(warmups),
                ReadyCheckTimeoutSec = parse.GetValue(readyTimeout),
                RequestTimeoutSec = Positive(parse.GetValue(requestTimeout), "--request-timeout-sec"),
                SaveResult = parse.GetValue(saveResult),
                ResultDir = parse.GetValue(resultDir),
                ResultFilename = parse.GetValue(resultFilename),
                Plot = parse.GetValue(plot),
                Metadata = BenchConditions.ParsePairs(parse.GetValue(metadata) ?? [], "--metadata").ToArray(),
                DisableProgress = parse.GetValue(noProgress),
            };
            return await new ServeApplication(settings, WideWhenRedirected(AnsiConsole.Console)).RunAsync(cancellationToken);
        }));
        return command;
    }

    /// <summary>Bad flags, files or unreachable servers: one red line and exit code 1, never a stack trace.</summary>
    internal static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or InvalidDataException
                                      or IOException or UnauthorizedAccessException or HttpRequestException or System.Text.Json.JsonException)
        {
            AnsiConsole.MarkupLine("[red]error:[/] " + Markup.Escape(e.Message));
            return 1;
        }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]cancelled[/]");
            return 130;
        }
    }

    /// <summary>
    /// Output going to a file or pipe gets 160 columns instead of Spectre's default 80, so the sweep and result tables
    /// stay readable in logs rather than wrapping every cell.
    /// </summary>
    internal static IAnsiConsole WideWhenRedirected(IAnsiConsole console)
    {
        if (!console.Profile.Out.IsTerminal) console.Profile.Width = Math.Max(console.Profile.Width, 160);
        return console;
    }

    private static IEnumerable<string> SplitList(string value) => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static int Positive(int value, string option) =>
        value >= 1 ? value : throw new ArgumentException($"{option} must be at least 1, got {value}.");

    private static IReadOnlyList<double> ParsePercentiles(string text) =>
        SplitList(text).Select(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v is >= 0 and <= 100 ? v
            : throw new FormatException($"--metric-percentiles: '{p}' is not a number in [0, 100].")).ToArray();
}
