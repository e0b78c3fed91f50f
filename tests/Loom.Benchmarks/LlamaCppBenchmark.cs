using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Loom.Backends;
using Loom.Backends.Cpu;
using Loom.Core.Sampling;
using Loom.Engine;
using Loom.Models.Config;
using Loom.Models.Gguf;
using Loom.Models.Weights;

namespace Loom.Benchmarks;

/// <summary>
/// Loom against llama.cpp (node-llama-cpp's prebuilt CPU build, tools/llamacpp/bench.mjs) on the same GGUF files with
/// the same thread count: prompt processing (pp) and token generation (tg) tokens/s as llama-bench defines them, and
/// the aggregate generation rate of 16 concurrent requests (Loom: its engine, continuous batching; llama.cpp: 16
/// sequences of one context, batched into one decode per step). Each pair runs back to back, the order alternating
/// between rounds, so that drifting load on a shared machine hits both alike.
/// Usage: dotnet run -c Release --project tests/Loom.Benchmarks -- llamacpp [--threads 2] [--pp 128] [--tg 128]
///   [--parallel 16] [--parallel-prompt 32] [--rounds 2] [--models demo,qwen] [--types f16,q8_0,q4_0] [--out DIR] [--export-only]
/// Needs `npm install --prefix tools/llamacpp` (the test suite does it).
/// </summary>
internal static class LlamaCppBenchmark
{
    private const int BlockSize = 16;
    private const int Reps = 3;

    private sealed record Settings(int Threads, int Pp, int Tg, int Parallel, int ParallelPrompt, int Rounds, string[] Models, GgmlType[] Types, string OutDir);

    private sealed record Speed(double PpTokensPerSecond, double TgTokensPerSecond);

    public static int Run(string[] args)
    {
        string root = FindRoot();
        var settings = new Settings(
            Threads: IntOption(args, "--threads", 2),
            Pp: IntOption(args, "--pp", 128),
            Tg: IntOption(args, "--tg", 128),
            Parallel: IntOption(args, "--parallel", 16),
            ParallelPrompt: IntOption(args, "--parallel-prompt", 32),
            Rounds: IntOption(args, "--rounds", 2),
            Models: StringOption(args, "--models", "demo,qwen").Split(','),
            Types: StringOption(args, "--types", "f16,q8_0,q4_0").Split(',').Select(ParseType).ToArray(),
            OutDir: Path.GetFullPath(StringOption(args, "--out", Path.Combine(root, "bench-results", "llamacpp"))));
        Directory.CreateDirectory(settings.OutDir);
        Console.WriteLine($"Loom vs llama.cpp, {settings.Threads} threads each, {Environment.ProcessorCount} logical cores, " +
                          $"pp {settings.Pp}, tg {settings.Tg}, {settings.Parallel} concurrent requests ({settings.ParallelPrompt}-token prompts, {settings.Tg} tokens each), " +
                          $"{settings.Rounds} rounds, load average at start {LoadAverage()}");

        var rows = new JsonArray();
        Console.WriteLine();
        Console.WriteLine("| model | type | file MB | Loom pp t/s | llama.cpp pp t/s | Loom tg t/s | llama.cpp tg t/s | Loom 16-concurrent t/s | llama.cpp 16-concurrent t/s | load avg |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        foreach (string model in settings.Models)
        foreach (var type in settings.Types)
        {
            string path = EnsureGguf(root, model, type, settings.OutDir);
            if (!args.Contains("--export-only")) rows.Add(Compare(root, model, type, path, settings));
        }
        if (args.Contains("--export-only")) return 0;
        string jsonPath = Path.Combine(settings.OutDir, $"llamacpp-{DateTime.UtcNow:yyyyMMdd-HHmm}.json");
        File.WriteAllText(jsonPath, new JsonObject
        {
            ["threads"] = settings.Threads, ["pp"] = settings.Pp, ["tg"] = settings.Tg, ["parallel"] = settings.Parallel,
            ["parallel_prompt"] = settings.ParallelPrompt, ["rounds"] = settings.Rounds, ["utc"] = DateTime.UtcNow.ToString("O"),
            ["rows"] = rows,
        }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine();
        Console.WriteLine($"JSON: {jsonPath}");
        return 0;
    }

    /// <summary>
    /// All rounds for one file: pp/tg pairs, then concurrent-request pairs. The table shows each side's best round:
    /// on a shared machine the best is the least disturbed; the JSON keeps every round.
    /// </summary>
    private static JsonObject Compare(string root, string model, GgmlType type, string path, Settings s)
    {
        string loadBefore = LoadAverage();
        using var gguf = GgufWeightSource.Open(path);
        var config = gguf.Config;
        // One executor for both: the pp/tg runs address the first blocks directly while the engine is idle (it has
        // finished its requests and caches no prefixes), and the engine's 16 requests need the rest.
        int blocksPerRequest = (s.ParallelPrompt + s.Tg + BlockSize) / BlockSize + 1;
        int numBlocks = Math.Max((s.Pp + s.Tg + 2 * BlockSize) / BlockSize, s.Parallel * blocksPerRequest + 4);
        using var executor = (CpuModelExecutor)new CpuBackend(s.Threads).LoadModel(config, gguf, new KvCacheSpec(numBlocks, BlockSize));
        var engine = new LlmEngine(executor, null, [], Math.Min(config.MaxPositionEmbeddings, s.ParallelPrompt + s.Tg + 16), new EngineOptions
        {
            BlockSize = BlockSize, MaxNumSeqs = s.Parallel, MaxNumBatchedTokens = Math.Max(512, s.Parallel * s.ParallelPrompt),
            EnablePrefixCaching = false,
        });
        LoomConcurrent(engine, config.VocabSize, s with { Tg = Math.Min(s.Tg, 8) }, "warm"); // JIT and buffers, a few steps

        var loom = new List<Speed>();
        var llama = new List<Speed>();
        var loomParallel = new List<double>();
        var llamaParallel = new List<double>();
        for (int round = 0; round < s.Rounds; round++)
        {
            if (round % 2 == 0) { loom.Add(LoomSpeed(executor, s)); llama.Add(LlamaSpeed(root, path, s)); }
            else { llama.Add(LlamaSpeed(root, path, s)); loom.Add(LoomSpeed(executor, s)); }
        }
        for (int round = 0; round < s.Rounds; round++)
        {
            if (round % 2 == 0) { loomParallel.Add(LoomConcurrent(engine, config.VocabSize, s, $"r{round}-")); llamaParallel.Add(LlamaConcurrent(root, path, s)); }
            else { llamaParallel.Add(LlamaConcurrent(root, path, s)); loomParallel.Add(LoomConcurrent(engine, config.VocabSize, s, $"r{round}-")); }
        }
        string load = $"{loadBefore} → {LoadAverage()}";
        double fileMb = new FileInfo(path).Length / 1e6;
        var row = new JsonObject
        {
            ["model"] = model, ["type"] = type.ToString(), ["file"] = Path.GetFileName(path), ["file_mb"] = Math.Round(fileMb, 1),
            ["loom_pp"] = Numbers(loom.Select(x => x.PpTokensPerSecond)), ["llama_pp"] = Numbers(llama.Select(x => x.PpTokensPerSecond)),
            ["loom_tg"] = Numbers(loom.Select(x => x.TgTokensPerSecond)), ["llama_tg"] = Numbers(llama.Select(x => x.TgTokensPerSecond)),
            ["loom_concurrent"] = Numbers(loomParallel), ["llama_concurrent"] = Numbers(llamaParallel), ["load_average"] = load,
        };
        Console.WriteLine($"| {model} | {type} | {fileMb:F0} | {loom.Max(x => x.PpTokensPerSecond):F0} | {llama.Max(x => x.PpTokensPerSecond):F0} | " +
                          $"{loom.Max(x => x.TgTokensPerSecond):F1} | {llama.Max(x => x.TgTokensPerSecond):F1} | " +
                          $"{loomParallel.Max():F1} | {llamaParallel.Max():F1} | {load} |");
        return row;
    }

    // ---- Loom ----

    /// <summary>pp: a <c>Pp</c>-token prompt in one forward; tg: <c>Tg</c> greedy one-token steps after one token. One warm-up, median of <see cref="Reps"/>.</summary>
    private static Speed LoomSpeed(CpuModelExecutor executor, Settings s)
    {
        int vocab = executor.Config.VocabSize;
        var blockTable = Enumerable.Range(0, executor.KvCache.NumBlocks).ToArray();
        var logits = new float[vocab];
        var prompt = TokenIds(s.Pp, stream: 1, vocab);
        double pp = MedianSeconds(() => executor.Forward(Batch(prompt, 0, blockTable)).CopyTo(logits));

        int start = TokenIds(1, stream: 2, vocab)[0];
        var step = new ForwardBatch(maxNumTokens: 1, maxNumSeqs: 1, maxNumLogits: 1) { NumTokens = 1, NumSeqs = 1, NumLogits = 1 };
        double tg = MedianSeconds(() =>
        {
            step.TokenIds[0] = start;
            for (int position = 0; position < s.Tg; position++)
            {
                step.Positions[0] = position;
                step.Seqs[0] = new SequenceSlice(0, 1, position + 1, blockTable);
                step.TokenIds[0] = ArgMax(executor.Forward(step));
            }
        });
        return new Speed(s.Pp / pp, s.Tg / tg);
    }

    /// <summary>
    /// <c>Parallel</c> requests of <c>ParallelPrompt</c> tokens, <c>Tg</c> greedy tokens each, added to the engine at
    /// once; generated tokens over the wall time until the last one finishes (prefill included).
    /// </summary>
    private static double LoomConcurrent(LlmEngine engine, int vocab, Settings s, string tag)
    {
        var greedy = new SamplingParams { Temperature = 0, MaxTokens = s.Tg, IgnoreEos = true };
        long before = engine.GetStats().GenerationTokensTotal;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < s.Parallel; i++)
            engine.AddRequest(new EngineRequest($"{tag}{i}", TokenIds(s.ParallelPrompt, 100 + i, vocab), greedy));
        while (engine.HasWork) engine.Step();
        return (engine.GetStats().GenerationTokensTotal - before) / clock.Elapsed.TotalSeconds;
    }

    // ---- llama.cpp ----

    private static Speed LlamaSpeed(string root, string path, Settings s)
    {
        var json = RunBenchScript(root, ["--model", path, "--pp", s.Pp.ToString(), "--tg", s.Tg.ToString(), "--threads", s.Threads.ToString(), "--reps", Reps.ToString()]);
        return new Speed(json["pp"]!["tokens_per_s"]!.GetValue<double>(), json["tg"]!["tokens_per_s"]!.GetValue<double>());
    }

    private static double LlamaConcurrent(string root, string path, Settings s)
    {
        var json = RunBenchScript(root, ["--model", path, "--pp", "0", "--tg", s.Tg.ToString(), "--threads", s.Threads.ToString(),
            "--parallel", s.Parallel.ToString(), "--parallel-prompt", s.ParallelPrompt.ToString()]);
        return json["parallel"]!["tokens_per_s"]!.GetValue<double>();
    }

    private static JsonNode RunBenchScript(string root, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = Path.Combine(root, "tools", "llamacpp"),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add("bench.mjs");
        foreach (string arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start node");
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"bench.mjs failed (exit {process.ExitCode}): {stderr.Result}");
        return JsonNode.Parse(stdout) ?? throw new InvalidOperationException("bench.mjs printed nothing");
    }

    // ---- files ----

    /// <summary>OUT/{model}-{type}.gguf, exported once: the demo model from models/demo, the Qwen shape with dummy weights.</summary>
    private static string EnsureGguf(string root, string model, GgmlType type, string outDir)
    {
        string path = Path.Combine(outDir, $"{model}-{type.ToString().ToLowerInvariant()}.gguf");
        if (File.Exists(path)) return path;
        var clock = Stopwatch.StartNew();
        if (model == "demo")
        {
            string dir = Path.Combine(root, "models", "demo");
            using var weights = SafetensorsWeightSource.Open(dir);
            GgufExporter.Export(weights, ModelConfigLoader.Load(dir), path, type, GgufTokenizerWriter.FromModelDirectory(dir));
        }
        else if (model == "qwen")
        {
            var config = ModelConfigLoader.Load(Path.Combine(root, "tests", "fixtures", "dummy-configs", "qwen2.5-0.5b"));
            using var weights = new DummyWeightSource(config, DType.BF16, seed: 1);
            GgufExporter.Export(weights, config, path, type, PlaceholderVocabulary(config.VocabSize));
        }
        else throw new ArgumentException($"--models: unknown model '{model}' (demo, qwen)");
        Console.Error.WriteLine($"exported {path} in {clock.Elapsed.TotalSeconds:F0} s");
        return path;
    }

    /// <summary>
    /// The dummy Qwen shape has no tokenizer, and llama.cpp will not load a file without one; both sides are fed token
    /// ids, so a vocabulary of distinct placeholder strings (byte-level BPE, no merges) is enough.
    /// </summary>
    private static IReadOnlyList<(string Key, object Value)> PlaceholderVocabulary(int vocabSize) =>
    [
        ("tokenizer.ggml.model", "gpt2"),
        ("tokenizer.ggml.pre", "default"),
        ("tokenizer.ggml.tokens", Enumerable.Range(0, vocabSize).Select(i => $"t{i}").ToArray()),
        ("tokenizer.ggml.token_type", Enumerable.Repeat(1, vocabSize).ToArray()),
        ("tokenizer.ggml.merges", Array.Empty<string>()),
    ];

    // ---- helpers ----

    /// <summary>The same deterministic pseudo-random ids as bench.mjs's tokenIds.</summary>
    private static int[] TokenIds(int count, int stream, int vocab) =>
        Enumerable.Range(0, count).Select(i => 1 + (int)(((i + 1L) * 7919 + stream * 104729L) % (vocab - 1))).ToArray();

    private static ForwardBatch Batch(int[] tokens, int start, int[] blockTable) => ForwardBatch.Of(
        tokenIds: tokens,
        positions: Enumerable.Range(start, tokens.Length).ToArray(),
        seqs: [new SequenceSlice(0, tokens.Length, start + tokens.Length, blockTable)],
        logitsIndices: [tokens.Length - 1]);

    private static double MedianSeconds(Action action)
    {
        action();
        var seconds = new double[Reps];
        for (int i = 0; i < Reps; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            seconds[i] = clock.Elapsed.TotalSeconds;
        }
        return Median(seconds);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }

    private static JsonArray Numbers(IEnumerable<double> values) => new(values.Select(v => (JsonNode)JsonValue.Create(Math.Round(v, 2))).ToArray());

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    private static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "?"; }
    }

    private static GgmlType ParseType(string name) => name.ToLowerInvariant() switch
    {
        "f32" => GgmlType.F32, "f16" => GgmlType.F16, "bf16" => GgmlType.BF16, "q8_0" => GgmlType.Q8_0, "q4_0" => GgmlType.Q4_0,
        _ => throw new ArgumentException($"--types: unknown type '{name}' (f32, f16, bf16, q8_0, q4_0)"),
    };

    private static int IntOption(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static string StringOption(string[] args, string name, string fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Loom.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("Loom.slnx not found");
    }
}
