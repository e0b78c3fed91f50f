using Loom.Bench.Metrics;

namespace Loom.Bench.Serving;

/// <summary>Everything `loom bench serve` was asked to do (the flags, vLLM's names in comments).</summary>
public sealed record ServeSettings
{
    /// <summary>--base-url, one per server; several servers are measured side by side.</summary>
    public IReadOnlyList<string> BaseUrls { get; init; } = ["http://127.0.0.1:8000"];
    /// <summary>--label, one per base URL (default: "openai", or "server1", "server2" … for several).</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];
    public string Endpoint { get; init; } = "/v1/completions";
    /// <summary>--model: a name or a local checkpoint folder (then also the tokenizer and vocabulary).</summary>
    public string? Model { get; init; }
    /// <summary>--served-model-name: the name sent in requests; default: the first id of GET /v1/models, else --model.</summary>
    public string? ServedModelName { get; init; }
    public string? Tokenizer { get; init; }
    public int? VocabSize { get; init; }
    /// <summary>--prompt-format auto|ids|text: auto sends token ids to /v1/completions and text to chat.</summary>
    public string PromptFormat { get; init; } = "auto";

    public string DatasetName { get; init; } = "random";
    public string? DatasetPath { get; init; }
    public int NumPrompts { get; init; } = 1000;
    public int RandomInputLen { get; init; } = 1024;
    public int RandomOutputLen { get; init; } = 128;
    public double RandomRangeRatio { get; init; }
    public int RandomPrefixLen { get; init; }
    public int PrefixRepetitionPrefixLen { get; init; } = 256;
    public int PrefixRepetitionSuffixLen { get; init; } = 256;
    public int PrefixRepetitionNumPrefixes { get; init; } = 10;
    public int PrefixRepetitionOutputLen { get; init; } = 128;
    public int? ShareGptOutputLen { get; init; }
    public int ShareGptMaxTotalLen { get; init; } = 2048;
    /// <summary>--burstgpt-replay: send at the trace's own timestamps (divided by --trace-time-scale).</summary>
    public bool BurstGptReplay { get; init; }
    public double TraceTimeScale { get; init; } = 1.0;

    public IReadOnlyList<double> RequestRates { get; init; } = [double.PositiveInfinity];
    public double Burstiness { get; init; } = 1.0;
    public int? MaxConcurrency { get; init; }
    public GoodputSlo Goodput { get; init; } = GoodputSlo.None;
    public IReadOnlyList<double> MetricPercentiles { get; init; } = [50, 90, 99];
    public bool IgnoreEos { get; init; }
    public int Seed { get; init; }
    public int NumWarmups { get; init; }
    public int ReadyCheckTimeoutSec { get; init; } = 600;
    public int RequestTimeoutSec { get; init; } = 6 * 60 * 60;

    public bool SaveResult { get; init; }
    public string? ResultDir { get; init; }
    public string? ResultFilename { get; init; }
    /// <summary>--plot: write PNG plots (default on when --save-result is given).</summary>
    public bool? Plot { get; init; }
    /// <summary>--metadata KEY=VALUE: conditions recorded with the results (dtype, backend, server flags …).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Metadata { get; init; } = [];
    public bool DisableProgress { get; init; }
}
