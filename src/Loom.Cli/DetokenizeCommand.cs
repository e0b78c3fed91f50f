using System.CommandLine;
using System.Text.Json;

namespace Loom.Cli;

/// <summary>`loom detokenize`: {"ids": [...]} on stdin → {"text": "..."}; with --jsonl one object per line.</summary>
public sealed class DetokenizeCommand : ICliCommand
{
    public static Command Create()
    {
        var model = TokenizerCli.ModelOption();
        var skipSpecial = new Option<bool>("--skip-special-tokens") { Description = "Leave special tokens out of the text." };
        var jsonl = new Option<bool>("--jsonl")
        {
            Description = "Read one {\"ids\": [...], \"skip_special_tokens\": true|false} per line and write one {\"text\": ...} line each.",
        };
        var command = new Command("detokenize", "Decode {\"ids\": [...]} from stdin and print {\"text\": \"...\"}.") { model, skipSpecial, jsonl };
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(skipSpecial), parse.GetValue(jsonl),
            Console.In, Console.Out, Console.Error));
        return command;
    }

    public static int Run(string modelDir, bool skipSpecialTokens, bool jsonl, TextReader input, TextWriter output, TextWriter error) =>
        TokenizerCli.Guard(error, () =>
        {
            var tokenizer = TokenizerCli.Load(modelDir);
            if (!jsonl)
            {
                var request = TokenizerCli.ParseObject(input.ReadToEnd(), "stdin");
                WriteText(output, tokenizer.Decode(ReadIds(request, "stdin"), skipSpecialTokens));
                return 0;
            }
            foreach (var (line, request) in TokenizerCli.JsonLines(input))
            {
                bool skip = TokenizerCli.OptionalBool(request, "skip_special_tokens", line) ?? skipSpecialTokens;
                WriteText(output, tokenizer.Decode(ReadIds(request, $"stdin line {line}"), skip));
            }
            return 0;
        });

    private static int[] ReadIds(JsonElement request, string where)
    {
        if (!request.TryGetProperty("ids", out var ids) || ids.ValueKind != JsonValueKind.Array)
            throw new TokenizerCli.InvalidInputException($"{where}: \"ids\" must be an array of integers");
        return ids.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int id) && id >= 0 ? id
            : throw new TokenizerCli.InvalidInputException($"{where}: \"ids\" must hold non-negative integers, found {e}")).ToArray();
    }

    private static void WriteText(TextWriter output, string text) =>
        output.WriteLine("{\"text\": " + JsonSerializer.Serialize(text, TokenizerCli.Json) + "}");
}
