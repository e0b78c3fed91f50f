using System.CommandLine;
using System.Globalization;
using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Engine.Speculative;

namespace Loom.Cli;

/// <summary>
/// The model, engine and loader flags that every command running the engine shares (vLLM's EngineArgs): defined once
/// here so `loom serve` and `loom bench throughput` spell, default and describe them alike.
/// </summary>
/// <param name="online">`loom serve`: with chunked prefill its budget defaults to
/// <see cref="EngineOptions.DefaultServingStepTokens"/> (vLLM's online default), so a wave of prompts runs in one step;
/// offline commands (bench throughput) keep the engine's default.</param>
public sealed class EngineOptionSet(bool online = false)
{
    public Option<string> Model { get; } = new("--model") { Description = "Model directory (Hugging Face layout) or .gguf file.", DefaultValueFactory = _ => "models/demo" };
    public Option<int?> MaxModelLen { get; } = new("--max-model-len") { Description = "Prompt + output limit (default: the model's)." };
    public Option<int> MaxNumSeqs { get; } = new("--max-num-seqs") { Description = "Most sequences in one step.", DefaultValueFactory = _ => 64 };
    public Option<int?> MaxNumBatchedTokens { get; } = new("--max-num-batched-tokens")
    {
        Description = "Most tokens in one step, prompt chunks and decodes together: larger means fewer, more efficient steps (throughput), smaller bounds how long a new prompt stalls running decodes (default: "
            + (online ? $"{EngineOptions.DefaultServingStepTokens}" : $"{EngineOptions.DefaultChunkedStepTokens}")
            + $" with chunked prefill, {EngineOptions.DefaultTimedStepTokens} under --step-time-target-ms, {EngineOptions.DefaultWholePromptStepTokens} without chunked prefill).",
    };
    public Option<double?> StepTimeTarget { get; } = new("--step-time-target-ms")
    {
        Description = "While some request is decoding, shrink each step's token budget so a step (the gap every running decode waits) stays near this many ms, measured as it runs (with none decoding a step takes the whole budget); "
            + $"never below the running requests plus {StepTimeBudget.MinPromptTokens} prompt token(s), and at most {StepTimeBudget.DecodeHeadroom}x the decodes alone. "
            + "Bounds every stall, at the cost of spreading prompts over more steps (more gaps slowed, lower throughput). Default off (0): a fixed budget.",
    };
    public Option<int> BlockSize { get; } = new("--block-size") { Description = "Tokens per KV cache block.", DefaultValueFactory = _ => 16 };
    public Option<string?> KvCacheMemory { get; } = new("--kv-cache-memory") { Description = "KV cache size in bytes; accepts KiB/MiB/GiB suffixes (e.g. 512MiB)." };
    public Option<string> KvCacheDType { get; } = CreateKvCacheDType();
    public Option<bool> EnablePrefixCaching { get; } = new("--enable-prefix-caching") { Description = "Reuse KV blocks of shared prompt prefixes (default on).", DefaultValueFactory = _ => true };
    public Option<bool> NoEnablePrefixCaching { get; } = new("--no-enable-prefix-caching") { Description = "Turn prefix caching off." };
    public Option<bool> NoEnableChunkedPrefill { get; } = new("--no-enable-chunked-prefill") { Description = "Schedule each prompt whole in one step (prompts over --max-num-batched-tokens are then rejected)." };
    public Option<string> Device { get; } = new("--device") { Description = "Backend: auto or cpu (auto = the best available: the CPU today; a CUDA backend is planned, not built).", DefaultValueFactory = _ => "auto" };
    public Option<int?> Threads { get; } = new("--threads") { Description = "CPU backend threads (default: all cores)." };
    public Option<string> WidenF16 { get; } = CreateWidenF16();
    public Option<bool> DummyWeights { get; } = new("--dummy-weights") { Description = "Random seeded weights of the config's shapes: config.json alone suffices." };
    public Option<string?> Quantization { get; } = QuantizationOption.Create();
    public Option<string?> Speculative { get; } = CreateSpeculativeConfig();

    public IEnumerable<Option> All =>
    [
        Model, MaxModelLen, MaxNumSeqs, MaxNumBatchedTokens, StepTimeTarget, BlockSize, KvCacheMemory, KvCacheDType, EnablePrefixCaching, NoEnablePrefixCaching,
        NoEnableChunkedPrefill, Device, Threads, WidenF16, DummyWeights, Quantization, Speculative,
    ];

    public void AddTo(Command command)
    {
        foreach (var option in All) command.Options.Add(option);
    }

    public string ModelDir(ParseResult parse) => parse.GetValue(Model)!;

    public EngineOptions Engine(ParseResult parse)
    {
        var options = new EngineOptions
        {
            MaxNumSeqs = AtLeastOne(parse.GetValue(MaxNumSeqs), "--max-num-seqs"),
            MaxNumBatchedTokens = parse.GetValue(MaxNumBatchedTokens) is int budget ? AtLeastOne(budget, "--max-num-batched-tokens") : null,
            MaxModelLen = parse.GetValue(MaxModelLen),
            BlockSize = AtLeastOne(parse.GetValue(BlockSize), "--block-size"),
            KvCacheBytes = parse.GetValue(KvCacheMemory) is { } kv ? ParseBytes(kv) : null,
            KvCacheDType = KvCacheDTypes.Parse(parse.GetValue(KvCacheDType)!),
            EnablePrefixCaching = parse.GetValue(EnablePrefixCaching) && !parse.GetValue(NoEnablePrefixCaching),
            EnableChunkedPrefill = !parse.GetValue(NoEnableChunkedPrefill),
            StepTimeTarget = StepTimeTargetOf(parse),
            Speculative = ParseSpeculativeConfig(parse.GetValue(Speculative)),
        };
        return options with { MaxNumBatchedTokens = options.MaxNumBatchedTokens ?? ServingBudgetFor(options) };
    }

    /// <summary>`loom serve`'s budget where no flag sets one: with chunked prefill and no step-time target; otherwise null (the engine's default).</summary>
    private int? ServingBudgetFor(EngineOptions options) =>
        online && options.EnableChunkedPrefill && options.StepTimeTarget is null ? EngineOptions.DefaultServingStepTokens : null;

    /// <summary>The flag's value; absent or 0, off (a fixed budget).</summary>
    private TimeSpan? StepTimeTargetOf(ParseResult parse)
    {
        bool chunked = !parse.GetValue(NoEnableChunkedPrefill);
        switch (parse.GetValue(StepTimeTarget))
        {
            case null or 0: return null;
            case double ms when ms < 0 || !double.IsFinite(ms): throw new CliUsageException($"--step-time-target-ms must be a positive number of milliseconds (or 0 for off), got {ms}.");
            case double when !chunked: throw new CliUsageException("--step-time-target-ms needs chunked prefill (drop --no-enable-chunked-prefill, or pass 0).");
            case double ms: return TimeSpan.FromMilliseconds(ms);
        }
    }

    /// <summary>The --speculative-config option (also taken by `loom generate`, which has its own option set).</summary>
    public static Option<string?> CreateSpeculativeConfig() => new("--speculative-config")
    {
        Description = "Speculative decoding as vLLM's JSON, e.g. '{\"method\":\"ngram\",\"num_speculative_tokens\":4,"
            + "\"prompt_lookup_max\":4,\"prompt_lookup_min\":2}' or '{\"method\":\"draft_model\",\"model\":PATH,"
            + "\"num_speculative_tokens\":4,\"quantization\":\"q4_0\"}' (optional: disable_by_batch_size).",
    };

    /// <summary>Null for no flag; a bad key or value is a usage error naming it.</summary>
    public static SpeculativeConfig? ParseSpeculativeConfig(string? json)
    {
        if (json is null) return null;
        try
        {
            return SpeculativeConfig.Parse(json);
        }
        catch (ArgumentException e)
        {
            throw new CliUsageException(e.ParamName is { } key ? e.Message.Replace($" (Parameter '{key}')", "") : e.Message);
        }
    }

    /// <summary>Loader options carrying <see cref="Engine"/>; callers add what is theirs (Log, RequireTokenizer).</summary>
    public LoaderOptions Loader(ParseResult parse) => new()
    {
        Backend = parse.GetValue(Device)!,
        DummyWeights = parse.GetValue(DummyWeights),
        Quantization = QuantizationOption.Parse(parse.GetValue(Quantization)),
        NumThreads = parse.GetValue(Threads) is int t ? CapThreads(AtLeastOne(t, "--threads"), Environment.ProcessorCount, Console.Error.WriteLine) : null,
        F16Widening = Enum.Parse<F16Widening>(parse.GetValue(WidenF16)!, ignoreCase: true),
        Engine = Engine(parse),
    };

    private static Option<string> CreateWidenF16()
    {
        var option = new Option<string>("--widen-f16")
        {
            Description = "F16 weights on a CPU: auto keeps an fp32 copy for prompts and large batches (twice the "
                + "F16 bytes more, faster prefill, same results) when it fits in a quarter of free memory; always; never.",
            DefaultValueFactory = _ => "auto",
        };
        option.AcceptOnlyFromAmong("auto", "always", "never");
        return option;
    }

    private static Option<string> CreateKvCacheDType()
    {
        var option = new Option<string>("--kv-cache-dtype")
        {
            Description = "Element type of the KV cache: auto (float32 on the CPU), fp32, or bf16 (half the memory per token).",
            DefaultValueFactory = _ => "auto",
        };
        option.AcceptOnlyFromAmong(KvCacheDTypes.Names);
        return option;
    }

    /// <summary>"536870912", "512MiB", "2GiB", "1.5GB" -> bytes (binary multiples for both spellings).</summary>
    public static long ParseBytes(string text) => ParseBytes(text, "--kv-cache-memory");

    public static long ParseBytes(string text, string option)
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
            _ => throw new CliUsageException($"{option}: unknown unit in '{text}' (use B, KiB, MiB, GiB)."),
        };
        if (!double.TryParse(t[..split], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0)
            throw new CliUsageException($"{option}: '{text}' is not a positive size.");
        return (long)(value * unit);
    }

    /// <summary>
    /// More kernel threads than cores only makes them wait on each other (64 on 2 cores made a request 50x slower):
    /// capped at the cores this process may use, with a warning.
    /// </summary>
    public static int CapThreads(int requested, int cores, Action<string> warn)
    {
        if (requested <= cores) return requested;
        warn($"--threads {requested} is more than the {cores} cores available: using {cores}.");
        return cores;
    }

    private static int AtLeastOne(int value, string option) =>
        value >= 1 ? value : throw new CliUsageException($"{option} must be at least 1, got {value}.");
}
