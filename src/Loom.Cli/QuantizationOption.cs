using System.CommandLine;
using Loom.Models.Weights;

namespace Loom.Cli;

/// <summary>
/// `--quantization q8_0|q4_0`, shared by the commands that load a model (serve, generate, bench throughput): quantize
/// the checkpoint's matrices while loading (<see cref="Engine.Loading.LoaderOptions.Quantization"/>).
/// </summary>
public static class QuantizationOption
{
    public static Option<string?> Create() => new("--quantization")
    {
        Description = "Quantize the checkpoint's matrices while loading: q8_0 or q4_0 (default: compute with the stored types).",
    };

    /// <summary>The dtype the option names, or null when it is absent; a clear usage error for anything else.</summary>
    public static DType? Parse(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "none" => null,
        "q8_0" => DType.Q8_0,
        "q4_0" => DType.Q4_0,
        _ => throw new CliUsageException($"--quantization: unknown type '{value}' (expected q8_0 or q4_0)."),
    };
}
