using System.Globalization;
using Loom.Backends;
using Loom.Bench.Datasets;
using Loom.Bench.Reporting;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Engine.Speculative;
using Spectre.Console;

namespace Loom.Bench.Throughput;

/// <summary>
/// `loom bench throughput`: loads the model in process, builds the workload as token ids, runs it offline through the
/// engine (after a short unmeasured warm-up), then prints requests/s and tokens/s with the conditions and saves them.
/// </summary>
public sealed class ThroughputApplication(ThroughputSettings settings, IAnsiConsole console)
{
    public ThroughputResult Run(CancellationToken cancellationToken = default)
    {
        if (settings.NumPrompts < 1) throw new ArgumentException($"--num-prompts must be at least 1, got {settings.NumPrompts}.");
        if (settings.NumWarmups < 0) throw new ArgumentException($"--num-warmups must not be negative, got {settings.NumWarmups}.");
        using var model = Load();
        var engine = LlmEngine.Create(model, settings.Loader.Engine);
        var dataset = CreateDataset(model);
        var requests = ToOfflineRequests(dataset.Sample(settings.NumPrompts, new Random(settings.Seed)), model);
        var runner = new OfflineThroughput(engine);
        console.MarkupLine($"[bold]loom bench throughput[/]: {requests.Count} requests, dataset {dataset.Name}, "
            + $"mean input {requests.Average(r => r.PromptTokenIds.Length):0.#} / output {requests.Average(r => r.OutputLen):0.#} tokens");

        if (settings.NumWarmups > 0)
        {
            // One at a time: submitted together they ran as one step of several times the measured shape, so the
            // forward ran once and its hot paths were still unoptimised JIT code (tier 0) during the measured run.
            var warmups = ToOfflineRequests(dataset.Sample(settings.NumWarmups, new Random(settings.Seed + 1)), model);
            for (int i = 0; i < warmups.Count; i++)
                runner.Run([warmups[i]], settings.Seed + 1_000_000 + i, cancellationToken: cancellationToken);
        }
        var result = RunWithProgress(runner, requests, cancellationToken);

        var conditions = BenchConditions.Describe(Conditions(model, dataset).Concat(settings.Metadata));
        WriteReport(result, conditions);
        if (settings.OutputJson is { } path)
        {
            result.Save(path, conditions);
            console.MarkupLine($"saved [green]{Markup.Escape(path)}[/]");
        }
        return result;
    }

    /// <summary>A bar needs a terminal: piped output (logs, CI) gets the result lines alone.</summary>
    private bool ShowProgress => !settings.DisableProgress && console.Profile.Capabilities.Interactive && console.Profile.Out.IsTerminal;

    private LoadedModel Load()
    {
        var notes = new List<string>();
        var options = settings.Loader with { Log = notes.Add, RequireTokenizer = settings.DatasetPath is not null };
        LoadedModel? model = null;
        string name = Path.GetFileName(Path.GetFullPath(settings.ModelDir).TrimEnd('/'));
        if (!ShowProgress) model = ModelLoader.Load(settings.ModelDir, options);
        else
            console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape($"Loading {name}"), maxValue: 1.0);
                    model = ModelLoader.Load(settings.ModelDir, options, new Progress<double>(p => task.Value = Math.Clamp(p, 0, 1)));
                    task.Value = 1.0;
                });
        foreach (var note in notes) console.MarkupLine($"[grey]{Markup.Escape(note)}[/]");
        return model!;
    }

    private ThroughputResult RunWithProgress(OfflineThroughput runner, IReadOnlyList<OfflineRequest> requests, CancellationToken cancellationToken)
    {
        if (!ShowProgress) return runner.Run(requests, settings.Seed, cancellationToken: cancellationToken);
        ThroughputResult? result = null;
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("Processed requests", maxValue: requests.Count);
                result = runner.Run(requests, settings.Seed, () => task.Increment(1), cancellationToken);
            });
        return result!;
    }

    /// <summary>Random prompts draw ids below both the model's and the tokenizer's vocabulary, never a special token.</summary>
    private IBenchDataset CreateDataset(LoadedModel model)
    {
        int vocab = model.Tokenizer is { } t ? Math.Min(t.VocabSize, model.Config.VocabSize) : model.Config.VocabSize;
        var prompts = new PromptFactory(vocab, PromptFormat.TokenIds, model.Tokenizer);
        int outputLen = settings.OutputLen ?? ThroughputSettings.DefaultOutputLen;
        return settings.DatasetName switch
        {
            "random" => new RandomDataset(prompts, settings.InputLen ?? ThroughputSettings.DefaultInputLen, outputLen, settings.RandomRangeRatio, settings.PrefixLen),
            "prefix" or "prefix_repetition" => new PrefixRepetitionDataset(prompts, settings.PrefixRepetitionPrefixLen,
                settings.PrefixRepetitionSuffixLen, settings.PrefixRepetitionNumPrefixes, outputLen),
            "sharegpt" => new ShareGptDataset(prompts, settings.DatasetPath, settings.OutputLen, settings.ShareGptMaxTotalLen),
            _ => throw new ArgumentException($"--dataset-name must be random, sharegpt or prefix, got '{settings.DatasetName}'."),
        };
    }

    /// <summary>Token-id prompts pass through; text prompts (a ShareGPT file) are encoded with the model's tokenizer.</summary>
    private static IReadOnlyList<OfflineRequest> ToOfflineRequests(IReadOnlyList<SampleRequest> samples, LoadedModel model) =>
        samples.Select(s => new OfflineRequest(
            s.Prompt.TokenIds is { } ids ? [.. ids] : model.Tokenizer!.Encode(s.Prompt.Text!),
            s.ExpectedOutputLen)).ToArray();

    private IEnumerable<KeyValuePair<string, string>> Conditions(LoadedModel model, IBenchDataset dataset)
    {
        var c = CultureInfo.InvariantCulture;
        var loader = settings.Loader;
        var engine = loader.Engine;
        yield return KeyValuePair.Create("model", settings.ModelDir);
        yield return KeyValuePair.Create("weights", loader.DummyWeights ? "dummy (seeded random)" : "checkpoint");
        yield return KeyValuePair.Create("dtype", WeightDType(model));
        yield return KeyValuePair.Create("backend", model.BackendName);
        yield return KeyValuePair.Create("threads", (loader.NumThreads ?? Environment.ProcessorCount).ToString(c));
        yield return KeyValuePair.Create("engine", string.Create(c,
            $"max_num_seqs={engine.MaxNumSeqs} max_num_batched_tokens={engine.StepTokenBudget} block_size={engine.BlockSize} "
            + $"prefix_caching={OnOff(engine.EnablePrefixCaching)} chunked_prefill={OnOff(engine.EnableChunkedPrefill)} "
            + $"kv_cache_blocks={model.Executor.KvCache.NumBlocks} max_model_len={model.MaxModelLen}"));
        yield return KeyValuePair.Create("kv_cache_dtype", engine.KvCacheDType.DisplayName());
        yield return KeyValuePair.Create("speculative", engine.Speculative is { } spec
            ? string.Create(c, $"{spec.Method} num_speculative_tokens={spec.NumSpeculativeTokens} {ProposerSettings(spec)} disable_by_batch_size={spec.DisableByBatchSize?.ToString(c) ?? "none"} adaptive_k={OnOff(spec.AdaptiveK)}")
            : "off");
        yield return KeyValuePair.Create("dataset", DescribeDataset(dataset));
        yield return KeyValuePair.Create("sampling", "temperature 1, top_p 1, ignore_eos");
        yield return KeyValuePair.Create("seed", settings.Seed.ToString(c));
        yield return KeyValuePair.Create("num_warmups", settings.NumWarmups.ToString(c));
    }

    /// <summary>The matrices' type as computed with: the quantization when one was asked for, else the stored type.</summary>
    private string WeightDType(LoadedModel model)
    {
        string stored = settings.Loader.DummyWeights && settings.Loader.DummyWeightsDType is { } d ? d.ToString().ToLowerInvariant()
            : model.Config.TorchDtype ?? "bfloat16";
        return settings.Loader.Quantization is { } q ? $"{q.ToString().ToLowerInvariant()} (quantized from {stored} while loading)" : stored;
    }

    private string DescribeDataset(IBenchDataset dataset)
    {
        var c = CultureInfo.InvariantCulture;
        int outputLen = settings.OutputLen ?? ThroughputSettings.DefaultOutputLen;
        return dataset switch
        {
            RandomDataset => string.Create(c, $"random input {settings.InputLen ?? ThroughputSettings.DefaultInputLen} output {outputLen} range ratio {settings.RandomRangeRatio} prefix {settings.PrefixLen}"),
            PrefixRepetitionDataset => $"prefix: {settings.PrefixRepetitionNumPrefixes} prefixes of {settings.PrefixRepetitionPrefixLen} tokens + {settings.PrefixRepetitionSuffixLen}-token suffix, output {outputLen}",
            ShareGptDataset s => (s.IsSynthetic ? "sharegpt (synthetic log-normal length mix)" : $"sharegpt file {settings.DatasetPath}")
                + (settings.OutputLen is { } o ? $", output {o}" : ""),
            _ => dataset.Name,
        };
    }

    private void WriteReport(ThroughputResult result, IReadOnlyDictionary<string, string> conditions)
    {
        var c = CultureInfo.InvariantCulture;
        console.MarkupLine(string.Create(c,
            $"[bold]Throughput:[/] {result.RequestsPerSecond:0.00} requests/s, {result.TokensPerSecond:0.00} total tokens/s, {result.OutputTokensPerSecond:0.00} output tokens/s"));
        console.MarkupLine(string.Create(c,
            $"Total num prompt tokens:  {result.TotalPromptTokens} ({result.CachedPromptTokens} from the prefix cache)\nTotal num output tokens:  {result.TotalOutputTokens}\nElapsed time (s):  {result.ElapsedS:0.000}, preemptions: {result.NumPreemptions}"));
        if (result.SpecDecoding is { } spec)
            console.MarkupLine(Markup.Escape(string.Create(c,
                $"Speculative decoding: {spec.NumAcceptedTokens} of {spec.NumDraftTokens} draft tokens accepted ({spec.AcceptanceRate:P1}), mean acceptance length {spec.MeanAcceptanceLength:0.00}, accepted per position [{string.Join(", ", spec.AcceptedPerPosition)}]")));
        var table = new Table().Border(TableBorder.Simple).Title("Conditions");
        table.AddColumn("condition").AddColumn("value");
        foreach (var (key, value) in conditions) table.AddRow(Markup.Escape(key), Markup.Escape(value));
        console.Write(table);
    }

    private static string OnOff(bool on) => on ? "on" : "off";

    private static string ProposerSettings(SpeculativeConfig spec) => spec.IsDraftModel
        ? $"model={spec.Model} quantization={spec.Quantization ?? "none"}"
        : string.Create(CultureInfo.InvariantCulture, $"prompt_lookup={spec.PromptLookupMin}..{spec.PromptLookupMax}");
}
