using System.Globalization;
using Loom.Bench.Client;
using Loom.Bench.Datasets;
using Loom.Bench.Reporting;
using Loom.Models.Config;
using Loom.Tokenizers;
using Spectre.Console;

namespace Loom.Bench.Serving;

/// <summary>`loom bench serve`: builds the workload, checks the servers answer, runs the sweep, prints and saves results.</summary>
public sealed class ServeApplication(ServeSettings settings, IAnsiConsole console)
{
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var labels = ResolveLabels();
        var tokenizer = LoadTokenizer();
        using var http = OpenAiStreamingClient.CreateHttpClient(TimeSpan.FromSeconds(settings.RequestTimeoutSec));
        string apiKey = Environment.GetEnvironmentVariable("OPENAI_API_KEY") ?? "";
        var targets = new List<ServeTarget>();
        int? localVocab = LocalVocabSize(tokenizer);
        var serverVocabs = new List<(string Url, int? VocabSize)>();
        for (int i = 0; i < settings.BaseUrls.Count; i++)
        {
            var card = settings.ServedModelName is null || localVocab is null
                ? await ServerModelCard.QueryAsync(http, settings.BaseUrls[i], TimeSpan.FromSeconds(settings.ReadyCheckTimeoutSec), cancellationToken)
                : null;
            string model = settings.ServedModelName ?? card?.Id
                ?? settings.Model ?? throw new ArgumentException($"no model name: pass --model or --served-model-name ({settings.BaseUrls[i]}/v1/models did not answer).");
            serverVocabs.Add((settings.BaseUrls[i], card?.VocabSize));
            var endpoint = EndpointTarget.Create(settings.BaseUrls[i], settings.Endpoint, model);
            targets.Add(new ServeTarget(labels[i], new OpenAiStreamingClient(http, endpoint, settings.IgnoreEos, apiKey)));
        }

        var prompts = CreatePromptFactory(tokenizer, localVocab ?? ServerVocabSize(serverVocabs), targets[0].Client.Target.Kind);
        var dataset = CreateDataset(prompts);
        var requests = dataset.Sample(settings.NumPrompts, new Random(settings.Seed));
        var options = new ServeRunOptions
        {
            Burstiness = settings.Burstiness,
            MaxConcurrency = settings.MaxConcurrency,
            TraceTimeScale = settings.BurstGptReplay ? settings.TraceTimeScale : null,
            Percentiles = settings.MetricPercentiles,
            Goodput = settings.Goodput,
            Seed = settings.Seed,
        };
        options.Validate();
        var rates = settings.BurstGptReplay ? [double.PositiveInfinity] : settings.RequestRates;
        WriteHeader(dataset, requests, prompts);

        foreach (var target in targets)
        {
            console.MarkupLine($"[grey]{Markup.Escape(target.Label)}: waiting for {Markup.Escape(target.Client.Target.ApiUrl.ToString())} (model '{Markup.Escape(target.Client.Target.Model)}')…[/]");
            var benchmark = new ServeBenchmark(target.Client);
            await benchmark.CheckReadyAsync(requests[0], TimeSpan.FromSeconds(settings.ReadyCheckTimeoutSec), cancellationToken);
            for (int w = 0; w < settings.NumWarmups; w++) await benchmark.CheckReadyAsync(requests[w % requests.Count], TimeSpan.FromSeconds(settings.ReadyCheckTimeoutSec), cancellationToken);
        }

        var conditions = BenchConditions.Describe(ClientConditions(dataset).Concat(settings.Metadata));
        var sweep = new ServeSweep(targets, tokenizer is null ? null : t => tokenizer.Encode(t).Length);
        var runs = await RunWithProgressAsync(sweep, requests, rates, options, cancellationToken);

        foreach (var (label, run) in runs) ConsoleReport.WriteRun(console, label, run);
        if (runs.Count > 1) ConsoleReport.WriteSweep(console, runs, settings.MetricPercentiles.Max());
        Save(runs, dataset, conditions, targets.ToDictionary(t => t.Label));
        return runs.All(r => r.Run.Metrics.Completed > 0) ? 0 : 1;
    }

    private async Task<IReadOnlyList<(string Label, ServeRunResult Run)>> RunWithProgressAsync(ServeSweep sweep,
        IReadOnlyList<SampleRequest> requests, IReadOnlyList<double> rates, ServeRunOptions options, CancellationToken cancellationToken)
    {
        if (settings.DisableProgress)
            return await sweep.RunAsync(requests, rates, options,
                (label, rate, n) => console.MarkupLine($"{Markup.Escape(label)} at {ConsoleReport.RateText(rate)} req/s: {n} requests"),
                cancellationToken: cancellationToken);
        return await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                ProgressTask? current = null;
                return await sweep.RunAsync(requests, rates, options,
                    (label, rate, n) => current = ctx.AddTask(Markup.Escape($"{label} @ {ConsoleReport.RateText(rate)} req/s"), maxValue: n),
                    _ => current?.Increment(1), cancellationToken);
            });
    }

    private IReadOnlyList<string> ResolveLabels()
    {
        if (settings.BaseUrls.Count == 0) throw new ArgumentException("--base-url: at least one server is needed.");
        if (settings.Labels.Count == 0)
            return settings.BaseUrls.Count == 1 ? ["openai"] : settings.BaseUrls.Select((_, i) => $"server{i + 1}").ToArray();
        if (settings.Labels.Count != settings.BaseUrls.Count)
            throw new ArgumentException($"--label: give one label per --base-url ({settings.BaseUrls.Count}), got {settings.Labels.Count}.");
        if (settings.Labels.Distinct().Count() != settings.Labels.Count) throw new ArgumentException("--label: labels must differ.");
        return settings.Labels;
    }

    private ITokenizer? LoadTokenizer()
    {
        string? dir = settings.Tokenizer ?? (settings.Model is { } m && File.Exists(Path.Combine(m, "tokenizer.json")) ? m : null);
        if (dir is null) return null;
        return Directory.Exists(dir) ? HfTokenizer.FromDirectory(dir)
            : File.Exists(dir) ? HfTokenizer.FromFiles(dir)
            : throw new FileNotFoundException($"--tokenizer: no tokenizer.json at '{dir}'.", dir);
    }

    /// <summary>
    /// The vocabulary known on this machine: --vocab-size, else the smaller of the tokenizer's and the local
    /// checkpoint's, whichever are known; null when none is.
    /// </summary>
    private int? LocalVocabSize(ITokenizer? tokenizer)
    {
        int? modelVocab = settings.Model is { } m && File.Exists(Path.Combine(m, "config.json")) ? ModelConfigLoader.Load(m).VocabSize : null;
        return settings.VocabSize ?? Min(tokenizer?.VocabSize, modelVocab);
    }

    /// <summary>The smallest vocabulary the servers reported, so that every id is valid on each; null when none did.</summary>
    private static int? ServerVocabSize(IReadOnlyList<(string Url, int? VocabSize)> servers) =>
        servers.Select(s => s.VocabSize).Where(v => v is not null).Min();

    private PromptFactory CreatePromptFactory(ITokenizer? tokenizer, int? vocab, EndpointKind kind)
    {
        if (vocab is null)
            throw new ArgumentException("random token prompts need the vocabulary size, and no server's /v1/models gave one (Loom's vocab_size, "
                + "llama-server's meta.n_vocab): pass --tokenizer DIR (a folder with tokenizer.json), --model DIR (a local checkpoint) or --vocab-size N.");
        var format = settings.PromptFormat switch
        {
            "ids" => Datasets.PromptFormat.TokenIds,
            "text" => Datasets.PromptFormat.Text,
            "auto" => kind == EndpointKind.ChatCompletions ? Datasets.PromptFormat.Text : Datasets.PromptFormat.TokenIds,
            _ => throw new ArgumentException($"--prompt-format must be auto, ids or text, got '{settings.PromptFormat}'."),
        };
        if (kind == EndpointKind.ChatCompletions && format == Datasets.PromptFormat.TokenIds)
            throw new ArgumentException("--prompt-format ids does not work with the chat endpoint: chat messages are text.");
        return new PromptFactory(vocab.Value, format, tokenizer);
    }

    private static int? Min(int? a, int? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);

    private IBenchDataset CreateDataset(PromptFactory prompts) => settings.DatasetName switch
    {
        "random" => new RandomDataset(prompts, settings.RandomInputLen, settings.RandomOutputLen, settings.RandomRangeRatio, settings.RandomPrefixLen),
        "prefix" or "prefix_repetition" => new PrefixRepetitionDataset(prompts, settings.PrefixRepetitionPrefixLen,
            settings.PrefixRepetitionSuffixLen, settings.PrefixRepetitionNumPrefixes, settings.PrefixRepetitionOutputLen),
        "sharegpt" => new ShareGptDataset(prompts, settings.DatasetPath, settings.ShareGptOutputLen, settings.ShareGptMaxTotalLen),
        "burstgpt" => new BurstGptDataset(prompts,
            settings.DatasetPath is { } path ? BurstGptDataset.LoadCsv(path) : BurstGptDataset.LoadEmbedded(), settings.BurstGptReplay),
        _ => throw new ArgumentException($"--dataset-name must be random, sharegpt, prefix or burstgpt, got '{settings.DatasetName}'."),
    };

    private IEnumerable<KeyValuePair<string, string>> ClientConditions(IBenchDataset dataset)
    {
        var c = CultureInfo.InvariantCulture;
        yield return KeyValuePair.Create("dataset", dataset switch
        {
            RandomDataset => $"random input {settings.RandomInputLen} output {settings.RandomOutputLen} range ratio {settings.RandomRangeRatio.ToString(c)} prefix {settings.RandomPrefixLen}",
            PrefixRepetitionDataset => $"prefix: {settings.PrefixRepetitionNumPrefixes} prefixes of {settings.PrefixRepetitionPrefixLen} tokens + {settings.PrefixRepetitionSuffixLen}-token suffix, output {settings.PrefixRepetitionOutputLen}",
            ShareGptDataset s => s.IsSynthetic ? "sharegpt (synthetic log-normal length mix)" : $"sharegpt file {settings.DatasetPath}",
            BurstGptDataset => $"burstgpt {(settings.DatasetPath ?? "synthetic trace (embedded)")}{(settings.BurstGptReplay ? $", replayed at {settings.TraceTimeScale.ToString(c)}x" : "")}",
            _ => dataset.Name,
        });
        yield return KeyValuePair.Create("ignore_eos", settings.IgnoreEos ? "true" : "false");
        yield return KeyValuePair.Create("seed", settings.Seed.ToString(c));
        if (settings.Model is { } m) yield return KeyValuePair.Create("model", m);
    }

    private void WriteHeader(IBenchDataset dataset, IReadOnlyList<SampleRequest> requests, PromptFactory prompts)
    {
        console.MarkupLine($"[bold]loom bench serve[/]: {requests.Count} requests, dataset {dataset.Name}, prompts as {(prompts.Format == Datasets.PromptFormat.TokenIds ? "token ids" : "text")}, "
            + $"mean input {requests.Average(r => r.PromptLen):0.#} / output {requests.Average(r => r.ExpectedOutputLen):0.#} tokens");
        console.MarkupLine($"rates {string.Join(", ", settings.RequestRates.Select(ConsoleReport.RateText))} req/s, burstiness {settings.Burstiness.ToString(CultureInfo.InvariantCulture)}"
            + (settings.MaxConcurrency is { } c ? $", max concurrency {c}" : "") + (settings.Goodput.IsEmpty ? "" : $", goodput SLO {settings.Goodput}"));
    }

    private void Save(IReadOnlyList<(string Label, ServeRunResult Run)> runs, IBenchDataset dataset, Dictionary<string, string> conditions,
        IReadOnlyDictionary<string, ServeTarget> targets)
    {
        if (!settings.SaveResult && settings.Plot != true) return;
        string dir = settings.ResultDir ?? ".";
        if (settings.SaveResult)
            foreach (var (label, run) in runs)
            {
                var target = targets[label].Client.Target;
                var runConditions = new Dictionary<string, string>(conditions)
                {
                    ["api_url"] = target.ApiUrl.ToString(),
                    ["served_model_name"] = target.Model,
                };
                var description = new RunDescription(label, "openai" + (settings.Endpoint.Contains("chat", StringComparison.Ordinal) ? "-chat" : ""),
                    settings.Model ?? target.Model, settings.Tokenizer ?? settings.Model, dataset.Name, runConditions);
                string name = settings.ResultFilename is { } f
                    ? (runs.Count == 1 ? f : $"{Path.GetFileNameWithoutExtension(f)}-{label}-{ConsoleReport.RateText(run.Options.RequestRate)}qps{Path.GetExtension(f)}")
                    : ResultJson.DefaultFileName(description, run);
                string path = Path.Combine(dir, name);
                ResultJson.Write(ResultJson.Build(run, description), path);
                console.MarkupLine($"saved [green]{Markup.Escape(path)}[/]");
            }
        if (settings.Plot ?? settings.SaveResult)
        {
            string prefix = settings.ResultFilename is { } f ? Path.GetFileNameWithoutExtension(f) + "-" : "";
            foreach (var png in SweepPlots.Save(ServeSweep.ToSeries(runs), dir, prefix, settings.MetricPercentiles.Max()))
                console.MarkupLine($"plot [green]{Markup.Escape(png)}[/]");
        }
    }
}
