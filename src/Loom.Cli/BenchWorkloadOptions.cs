using System.CommandLine;

namespace Loom.Cli;

/// <summary>
/// Workload and reporting flags that `bench serve` and `bench throughput` share, defined once (each subcommand gets
/// its own instances, since defaults such as --num-prompts differ).
/// </summary>
internal static class BenchWorkloadOptions
{
    public static Option<string?> DatasetPath(string description) => new("--dataset-path") { Description = description };

    public static Option<int> NumPrompts(int defaultValue) =>
        new("--num-prompts") { Description = "Requests per run.", DefaultValueFactory = _ => defaultValue };

    public static Option<double> RangeRatio() =>
        new("--random-range-ratio") { Description = "Lengths uniform in [len*(1-r), len*(1+r)].", DefaultValueFactory = _ => 0.0 };

    public static (Option<int> PrefixLen, Option<int> SuffixLen, Option<int> NumPrefixes) PrefixRepetition() =>
    (
        new("--prefix-repetition-prefix-len") { Description = "prefix dataset: tokens of each shared prefix.", DefaultValueFactory = _ => 256 },
        new("--prefix-repetition-suffix-len") { Description = "prefix dataset: random tokens after the prefix.", DefaultValueFactory = _ => 256 },
        new("--prefix-repetition-num-prefixes") { Description = "prefix dataset: distinct prefixes the requests share.", DefaultValueFactory = _ => 10 }
    );

    public static Option<int> ShareGptMaxTotalLen() =>
        new("--sharegpt-max-total-len") { Description = "Drop ShareGPT samples longer than this (prompt + output).", DefaultValueFactory = _ => 2048 };

    public static Option<int> Seed() => new("--seed") { Description = "Seed of the workload (and of sampling, offline).", DefaultValueFactory = _ => 0 };

    public static Option<string[]> Metadata() => new("--metadata")
    {
        Description = "KEY=VALUE conditions recorded with results (dtype=bf16 backend=cpu flags=...).",
        AllowMultipleArgumentsPerToken = true,
    };

    public static Option<bool> DisableProgress() => new("--disable-tqdm") { Description = "No progress bar." };
}
