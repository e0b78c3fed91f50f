using Loom.Engine.Loading;

namespace Loom.Bench.Throughput;

/// <summary>Everything `loom bench throughput` was asked for: the model and engine, the workload, and where results go.</summary>
public sealed record ThroughputSettings
{
    public required string ModelDir { get; init; }
    /// <summary>Backend, threads, dummy weights, KV sizing and the engine flags (EngineOptions) to load and run with.</summary>
    public LoaderOptions Loader { get; init; } = new();

    /// <summary>random | sharegpt | prefix (prefix_repetition).</summary>
    public string DatasetName { get; init; } = "random";
    /// <summary>A ShareGPT JSON file (needs the model's tokenizer); null = the synthetic ShareGPT length mix.</summary>
    public string? DatasetPath { get; init; }
    public int NumPrompts { get; init; } = 100;
    /// <summary>--input-len: prompt tokens of the random dataset (1024 when null).</summary>
    public int? InputLen { get; init; }
    /// <summary>--output-len: tokens to generate; for ShareGPT it overrides each conversation's own length (128 when null elsewhere).</summary>
    public int? OutputLen { get; init; }
    public double RandomRangeRatio { get; init; }
    /// <summary>--prefix-len: random tokens shared by every prompt of the random dataset.</summary>
    public int PrefixLen { get; init; }
    public int PrefixRepetitionPrefixLen { get; init; } = 256;
    public int PrefixRepetitionSuffixLen { get; init; } = 256;
    public int PrefixRepetitionNumPrefixes { get; init; } = 10;
    public int ShareGptMaxTotalLen { get; init; } = 2048;
    public int Seed { get; init; }
    /// <summary>
    /// Unmeasured requests (of the same shape, other random tokens) run first, one at a time, so the JIT has compiled the hot
    /// paths.
    /// </summary>
    public int NumWarmups { get; init; } = 1;

    /// <summary>--output-json: where to write the result; null = print only.</summary>
    public string? OutputJson { get; init; }
    public IReadOnlyList<KeyValuePair<string, string>> Metadata { get; init; } = [];
    public bool DisableProgress { get; init; }

    public const int DefaultInputLen = 1024, DefaultOutputLen = 128;
}
