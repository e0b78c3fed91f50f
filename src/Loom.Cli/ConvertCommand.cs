using System.CommandLine;
using Loom.Models.Config;
using Loom.Models.Gguf;
using Loom.Models.Weights;
using Spectre.Console;

namespace Loom.Cli;

/// <summary>
/// `loom convert --model DIR --to gguf --type f32|f16|bf16|q8_0|q4_0 --out FILE`: exports a safetensors checkpoint to a
/// GGUF file in llama.cpp's conventions (<see cref="GgufExporter"/>) with the tokenizer embedded
/// (<see cref="GgufTokenizerWriter"/>), and a progress bar on stderr. The file is
/// written next to FILE first and renamed when complete, so a failed conversion leaves no half-written FILE.
/// </summary>
public sealed class ConvertCommand : ICliCommand
{
    private static readonly Dictionary<string, GgmlType> Types = new(StringComparer.OrdinalIgnoreCase)
    {
        ["f32"] = GgmlType.F32, ["f16"] = GgmlType.F16, ["bf16"] = GgmlType.BF16, ["q8_0"] = GgmlType.Q8_0, ["q4_0"] = GgmlType.Q4_0,
    };

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model directory (Hugging Face layout: config.json, safetensors, tokenizer files).", Required = true };
        var to = new Option<string>("--to") { Description = "Output format: gguf.", DefaultValueFactory = _ => "gguf" };
        var type = new Option<string>("--type") { Description = "Type of the matrices: f32, f16, bf16, q8_0 or q4_0 (norms and biases stay f32).", DefaultValueFactory = _ => "f16" };
        var output = new Option<string>("--out") { Description = "The .gguf file to write (replaced if it exists).", Required = true };
        var command = new Command("convert", "Convert a safetensors checkpoint to a GGUF file that llama.cpp can load.") { model, to, type, output };
        command.SetAction(parse => CliErrors.Run(parse, () =>
        {
            var error = parse.InvocationConfiguration.Error;
            var request = new ConvertRequest(parse.GetValue(model)!, parse.GetValue(to)!, parse.GetValue(type)!, parse.GetValue(output)!);
            Run(request, error);
            parse.InvocationConfiguration.Output.WriteLine($"Wrote {request.OutPath} ({new FileInfo(request.OutPath).Length / 1e6:F1} MB, {request.Type}).");
            return 0;
        }));
        return command;
    }

    private sealed record ConvertRequest(string ModelDir, string Format, string Type, string OutPath);

    private static void Run(ConvertRequest request, TextWriter error)
    {
        if (!string.Equals(request.Format, "gguf", StringComparison.OrdinalIgnoreCase))
            throw new CliUsageException($"--to: unknown format '{request.Format}' (expected gguf).");
        if (!Types.TryGetValue(request.Type, out var type))
            throw new CliUsageException($"--type: unknown type '{request.Type}' (expected {string.Join(", ", Types.Keys)}).");
        if (!Directory.Exists(request.ModelDir)) throw new CliUsageException($"--model: directory not found: {request.ModelDir}");
        string outPath = Path.GetFullPath(request.OutPath);
        CheckWritable(outPath);

        var config = ModelConfigLoader.Load(request.ModelDir);
        using var weights = SafetensorsWeightSource.Open(request.ModelDir);
        var tokenizerMetadata = TokenizerMetadata(request.ModelDir, error);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(error) });
        try
        {
            console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask($"Converting {Path.GetFileName(Path.GetFullPath(request.ModelDir).TrimEnd('/'))} to {type}", maxValue: 1.0);
                    GgufExporter.Export(weights, config, outPath, type, tokenizerMetadata, new SyncProgress(p => task.Value = p));
                    task.Value = 1.0;
                });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(outPath + ".partial");
            throw new CliUsageException($"--out: cannot write {outPath}: {e.Message}");
        }
        catch
        {
            TryDelete(outPath + ".partial");
            throw;
        }
    }

    /// <summary>
    /// tokenizer.ggml.* metadata (vocabulary, merges, special tokens, chat template) from the model's tokenizer files;
    /// without tokenizer.json the file is still written, with a warning, since llama.cpp then cannot use it alone.
    /// </summary>
    private static IReadOnlyList<(string Key, object Value)>? TokenizerMetadata(string modelDir, TextWriter error)
    {
        if (File.Exists(Path.Combine(modelDir, "tokenizer.json"))) return GgufTokenizerWriter.FromModelDirectory(modelDir);
        error.WriteLine($"warning: no tokenizer.json in {modelDir}: the GGUF file will have no tokenizer.ggml.* vocabulary.");
        return null;
    }

    /// <summary>Fails before any work when FILE cannot be created: a directory, or in a folder that does not exist.</summary>
    private static void CheckWritable(string outPath)
    {
        if (Directory.Exists(outPath)) throw new CliUsageException($"--out: {outPath} is a directory; give a file name such as model.gguf.");
        string? folder = Path.GetDirectoryName(outPath);
        if (folder is not null && !Directory.Exists(folder)) throw new CliUsageException($"--out: directory not found: {folder}");
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Updates the bar on the exporting thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    private sealed class SyncProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
