using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using Loom.Engine.Loading;
using Loom.Models;
using Loom.Models.Gguf;
using Loom.Tokenizers;

namespace Loom.Cli;

/// <summary>`loom tokenize`: text on stdin → {"ids": [...]}; with --jsonl one {"text", "add_special_tokens"} per line.</summary>
public sealed class TokenizeCommand : ICliCommand
{
    public static Command Create()
    {
        var model = TokenizerCli.ModelOption();
        var addSpecial = new Option<bool>("--add-special-tokens") { Description = "Run the post-processor (e.g. prepend BOS)." };
        var jsonl = new Option<bool>("--jsonl")
        {
            Description = "Read one JSON object per line, {\"text\": \"...\", \"add_special_tokens\": true|false}, and write one {\"ids\": [...]} line each.",
        };
        var command = new Command("tokenize", "Encode stdin with the model's tokenizer.json and print {\"ids\": [...]}.") { model, addSpecial, jsonl };
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(addSpecial), parse.GetValue(jsonl),
            Console.In, Console.Out, Console.Error));
        return command;
    }

    /// <summary>The command itself, over explicit streams so that tests can drive it. Returns the exit code.</summary>
    public static int Run(string modelDir, bool addSpecialTokens, bool jsonl, TextReader input, TextWriter output, TextWriter error) =>
        TokenizerCli.Guard(error, () =>
        {
            var tokenizer = TokenizerCli.Load(modelDir);
            if (!jsonl)
            {
                WriteIds(output, tokenizer.Encode(input.ReadToEnd(), addSpecialTokens));
                return 0;
            }
            foreach (var (line, request) in TokenizerCli.JsonLines(input))
            {
                string text = TokenizerCli.RequiredString(request, "text", line);
                bool add = TokenizerCli.OptionalBool(request, "add_special_tokens", line) ?? addSpecialTokens;
                WriteIds(output, tokenizer.Encode(text, add));
            }
            return 0;
        });

    private static void WriteIds(TextWriter output, int[] ids) => output.WriteLine("{\"ids\": [" + string.Join(", ", ids) + "]}");
}

/// <summary>What tokenize and detokenize share: the --model option, JSON lines input, and error reporting.</summary>
internal static class TokenizerCli
{
    public static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Option<string> ModelOption() => new("--model")
    {
        Description = "Model directory holding tokenizer.json (and tokenizer_config.json), or a .gguf file.",
        DefaultValueFactory = _ => "models/demo",
    };

    /// <summary>
    /// The tokenizer the model at <paramref name="modelPath"/> loads with: the one embedded in a .gguf file (or in the
    /// single .gguf of a folder without safetensors, as <see cref="ModelLoader.GgufCheckpoint"/> decides), else the
    /// directory's tokenizer.json.
    /// </summary>
    public static HfTokenizer Load(string modelPath) =>
        ModelLoader.GgufCheckpoint(modelPath) is { } gguf
            ? GgufTokenizerReader.LoadFromFile(gguf)
            : HfTokenizer.FromDirectory(modelPath);

    /// <summary>Bad input or a missing tokenizer: one line on stderr and exit code 1, never a stack trace.</summary>
    public static int Guard(TextWriter error, Func<int> body)
    {
        try { return body(); }
        catch (Exception e) when (e is TokenizerFormatException or ModelLoadException or InvalidInputException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine("error: " + e.Message);
            return 1;
        }
    }

    public static IEnumerable<(int Line, JsonElement Value)> JsonLines(TextReader input)
    {
        int lineNumber = 0;
        while (input.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            yield return (lineNumber, ParseObject(line, $"stdin line {lineNumber}"));
        }
    }

    public static JsonElement ParseObject(string json, string where)
    {
        try
        {
            var value = JsonSerializer.Deserialize<JsonElement>(json);
            if (value.ValueKind != JsonValueKind.Object) throw new InvalidInputException($"{where}: expected a JSON object");
            return value;
        }
        catch (JsonException e) { throw new InvalidInputException($"{where}: not valid JSON: {e.Message}"); }
    }

    public static string RequiredString(JsonElement obj, string field, int line) =>
        obj.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
        : throw new InvalidInputException($"stdin line {line}: \"{field}\" must be a string");

    public static bool? OptionalBool(JsonElement obj, string field, int line)
    {
        if (!obj.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidInputException($"stdin line {line}: \"{field}\" must be true or false"),
        };
    }

    public sealed class InvalidInputException(string message) : Exception(message);
}
