using System.CommandLine;
using Loom.Bench.Reporting;
using Loom.Bench.Throughput;
using Spectre.Console;

namespace Loom.Cli;

public sealed partial class BenchCommand
{
    /// <summary>`loom bench throughput`: vLLM's offline benchmark, with the engine flags `loom serve` takes.</summary>
    private static Command CreateThroughput()
    {
        var engine = new EngineOptionSet();
        var datasetName = new Option<string>("--dataset-name") { Description = "random | sharegpt | prefix.", DefaultValueFactory = _ => "random" };
        datasetName.AcceptOnlyFromAmong("random", "sharegpt", "prefix", "prefix_repetition");
        var datasetPath = BenchWorkloadOptions.DatasetPath("ShareGPT JSON file (default: a synthetic ShareGPT length mix).");
        var numPrompts = BenchWorkloadOptions.NumPrompts(100);
        var inputLen = new Option<int?>("--input-len", "--random-input-len") { Description = $"Prompt tokens per request (random dataset; default {ThroughputSettings.DefaultInputLen})." };
        var outputLen = new Option<int?>("--output-len", "--random-output-len")
        {
            Description = $"Tokens generated per request, exactly (EOS is ignored); overrides ShareGPT lengths (default {ThroughputSettings.DefaultOutputLen}).",
        };
        var rangeRatio = BenchWorkloadOptions.RangeRatio();
        var prefixLen = new Option<int>("--prefix-len", "--random-prefix-len") { Description = "Random tokens shared by every prompt (random dataset).", DefaultValueFactory = _ => 0 };
        var (repPrefixLen, repSuffixLen, repNumPrefixes) = BenchWorkloadOptions.PrefixRepetition();
        var sharegptMaxTotal = BenchWorkloadOptions.ShareGptMaxTotalLen();
        var seed = BenchWorkloadOptions.Seed();
        var warmups = new Option<int>("--num-warmups") { Description = "Unmeasured requests run first, one at a time (JIT warm-up).", DefaultValueFactory = _ => 1 };
        var outputJson = new Option<string?>("--output-json") { Description = "Write the result (and its conditions) to this JSON file." };
        var metadata = BenchWorkloadOptions.Metadata();
        var noProgress = BenchWorkloadOptions.DisableProgress();

        var command = new Command("throughput",
            "Offline throughput in process (like vllm bench throughput): load the model, run --num-prompts requests of "
            + "--input-len/--output-len tokens through the engine at once, report requests/s and tokens/s.");
        engine.AddTo(command);
        foreach (Option option in new Option[] { datasetName, datasetPath, numPrompts, inputLen, outputLen, rangeRatio, prefixLen, repPrefixLen,
                     repSuffixLen, repNumPrefixes, sharegptMaxTotal, seed, warmups, outputJson, metadata, noProgress })
            command.Options.Add(option);
        command.SetAction((parse, cancellationToken) => CliErrors.RunAsync(parse, () => Task.Run(() =>
        {
            var settings = new ThroughputSettings
            {
                ModelDir = engine.ModelDir(parse),
                Loader = engine.Loader(parse),
                DatasetName = parse.GetValue(datasetName)!,
                DatasetPath = parse.GetValue(datasetPath),
                NumPrompts = Positive(parse.GetValue(numPrompts), "--num-prompts"),
                InputLen = parse.GetValue(inputLen),
                OutputLen = parse.GetValue(outputLen),
                RandomRangeRatio = parse.GetValue(rangeRatio),
                PrefixLen = parse.GetValue(prefixLen),
                PrefixRepetitionPrefixLen = parse.GetValue(repPrefixLen),
                PrefixRepetitionSuffixLen = parse.GetValue(repSuffixLen),
                PrefixRepetitionNumPrefixes = parse.GetValue(repNumPrefixes),
                ShareGptMaxTotalLen = parse.GetValue(sharegptMaxTotal),
                Seed = parse.GetValue(seed),
                NumWarmups = parse.GetValue(warmups),
                OutputJson = parse.GetValue(outputJson),
                Metadata = BenchConditions.ParsePairs(parse.GetValue(metadata) ?? [], "--metadata").ToArray(),
                DisableProgress = parse.GetValue(noProgress),
            };
            var console = WideWhenRedirected(AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(parse.InvocationConfiguration.Output) }));
            new ThroughputApplication(settings, console).Run(cancellationToken);
            return 0;
        }, cancellationToken)));
        return command;
    }
}
