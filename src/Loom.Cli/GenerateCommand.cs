using System.CommandLine;
using System.Text.Json;
using Loom.Engine;
using Loom.Engine.Input;
using Loom.Engine.Loading;
using Spectre.Console;

namespace Loom.Cli;

/// <summary>
/// `loom generate`: one completion from a prompt (text or token ids), streamed to stdout as it is produced, or printed
/// as one JSON object {"token_ids": [...], "text": "..."} with --json. Progress and logs go to stderr, so --json
/// output stays clean. Sampling defaults come from the model's generation_config.json, as in vLLM. Runs through the
/// engine (<see cref="AsyncLlm"/>), the same path the server uses, with the request built by the same
/// <see cref="InputProcessor"/> (one context-window rule, one error vocabulary).
/// </summary>
public sealed class GenerateCommand : ICliCommand
{
    /// <summary>One request needs no more cache than its own context; this bounds it for models with huge contexts.</summary>
    private const int SingleRequestKvTokens = 32_768;

    private sealed record Options(
        Option<string> Model, Option<string?> Prompt, Option<string?> PromptIds, Option<int?> MaxTokens, Option<float?> Temperature,
        Option<long?> Seed, Option<float?> TopP, Option<int?> TopK, Option<bool> DummyWeights, Option<string?> Quantization, Option<bool> Json,
        Option<string?> Speculative);

    public static Command Create()
    {
        var o = new Options(
            new("--model") { Description = "Model directory (Hugging Face layout) or .gguf file.", DefaultValueFactory = _ => "models/demo" },
            new("--prompt") { Description = "Prompt text (encoded with the model's special tokens, e.g. BOS)." },
            new("--prompt-ids") { Description = "Prompt as comma-separated token ids, e.g. 1,2,3 (no tokenizer needed)." },
            new("--max-tokens") { Description = "Most tokens to generate (default: generation_config max_new_tokens, else 128)." },
            new("--temperature") { Description = "Sampling temperature; 0 = greedy (default: generation_config, else 1)." },
            new("--seed") { Description = "Seed of this request's generator (reproducible sampling)." },
            new("--top-p") { Description = "Nucleus sampling mass in (0, 1] (default: generation_config, else 1)." },
            new("--top-k") { Description = "Keep the k most likely tokens; 0 or -1 = all (default: generation_config, else all)." },
            new("--dummy-weights") { Description = "Random seeded weights of the config's shapes: config.json alone suffices." },
            QuantizationOption.Create(),
            new("--json") { Description = "Print one JSON object {\"token_ids\": [...], \"text\": \"...\"} instead of streaming text." },
            EngineOptionSet.CreateSpeculativeConfig());
        var command = new Command("generate", "Generate a completion for a prompt and stream it to stdout.");
        foreach (Option option in new Option[] { o.Model, o.Prompt, o.PromptIds, o.MaxTokens, o.Temperature, o.Seed, o.TopP, o.TopK, o.DummyWeights, o.Quantization, o.Json, o.Speculative })
            command.Options.Add(option);
        command.SetAction((parseResult, cancellationToken) =>
            CliErrors.RunAsync(parseResult, () => ExecuteAsync(parseResult, o, cancellationToken)));
        return command;
    }

    private static async Task<int> ExecuteAsync(ParseResult parse, Options o, CancellationToken cancellationToken)
    {
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        string? promptText = parse.GetValue(o.Prompt);
        int[]? promptIds = ParsePromptIds(parse.GetValue(o.PromptIds));
        if ((promptText is null) == (promptIds is null)) throw new CliUsageException("Give exactly one of --prompt and --prompt-ids.");
        bool json = parse.GetValue(o.Json);

        var loader = new LoaderOptions
        {
            DummyWeights = parse.GetValue(o.DummyWeights),
            Quantization = QuantizationOption.Parse(parse.GetValue(o.Quantization)),
            RequireTokenizer = promptIds is null,
            KvCacheTokens = SingleRequestKvTokens,
            Engine = new EngineOptions { Speculative = EngineOptionSet.ParseSpeculativeConfig(parse.GetValue(o.Speculative)) },
        };
        using var model = LoadWithProgress(parse.GetValue(o.Model)!, loader, error);
        var input = new InputProcessor(model.Tokenizer, model.ChatTemplate, model.GenerationConfig, model.MaxModelLen,
            model.Executor.Config.VocabSize);
        int[] prompt = promptIds ?? input.EncodeText(promptText!, addSpecialTokens: true, "prompt", cancellationToken);
        var request = input.Process("generate-0", prompt, ToSamplingRequest(parse, o));

        var engine = new LlmEngine(model.Executor, model.Tokenizer, model.EosTokenIds, model.MaxModelLen, loader.Engine, model.Draft?.Executor);
        await using var llm = new AsyncLlm(engine);
        var tokenIds = new List<int>();
        var text = new System.Text.StringBuilder();
        await foreach (var step in llm.GenerateAsync(request, cancellationToken))
            foreach (var delta in step.Deltas)
            {
                tokenIds.AddRange(delta.NewTokenIds);
                text.Append(delta.NewText);
                if (!json && delta.NewText.Length > 0)
                {
                    output.Write(delta.NewText);
                    output.Flush();
                }
            }
        if (json) output.WriteLine(ToJson(tokenIds, text.ToString()));
        else output.WriteLine();
        return 0;
    }

    /// <summary>Prompt ids as "1,2,3" (spaces allowed), or null when the option is absent.</summary>
    internal static int[]? ParsePromptIds(string? value)
    {
        if (value is null) return null;
        var parts = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out ids[i]) || ids[i] < 0)
                throw new CliUsageException($"--prompt-ids: '{parts[i]}' is not a token id (expected comma-separated non-negative integers).");
        return ids;
    }

    /// <summary>The command line in the input processor's terms; it lays them over generation_config.json's defaults.</summary>
    private static SamplingRequest ToSamplingRequest(ParseResult parse, Options o) => new()
    {
        MaxTokens = parse.GetValue(o.MaxTokens),
        FallbackMaxTokens = 128,
        Temperature = parse.GetValue(o.Temperature),
        TopP = parse.GetValue(o.TopP),
        TopK = parse.GetValue(o.TopK),
        Seed = parse.GetValue(o.Seed),
    };

    /// <summary>Loads the model with a progress bar on stderr; the loader's log lines follow it.</summary>
    private static LoadedModel LoadWithProgress(string modelDir, LoaderOptions options, TextWriter error)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(error) });
        var notes = new List<string>();
        options = options with { Log = notes.Add };
        LoadedModel? model = null;
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"Loading {Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd('/'))}", maxValue: 1.0);
                model = ModelLoader.Load(modelDir, options, new Progress<double>(p => task.Value = Math.Clamp(p, 0, 1)));
                task.Value = 1.0;
            });
        foreach (var note in notes) error.WriteLine(note);
        return model!;
    }

    private static string ToJson(IReadOnlyList<int> tokenIds, string text)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("token_ids");
            foreach (int id in tokenIds) writer.WriteNumberValue(id);
            writer.WriteEndArray();
            writer.WriteString("text", text);
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
