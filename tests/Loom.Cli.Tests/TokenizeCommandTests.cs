using System.Text.Json;
using Loom.Tests;
using Loom.Tokenizers;

namespace Loom.Cli.Tests;

/// <summary>`loom tokenize` / `loom detokenize`, driven in-process over string streams.</summary>
public class TokenizeCommandTests
{
    private static readonly string SpmDir = RepoPaths.FixtureTokenizer("spm-legacy");

    private static (int Code, string Out, string Err) Tokenize(string dir, string stdin, bool addSpecial = false, bool jsonl = false)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = TokenizeCommand.Run(dir, addSpecial, jsonl, new StringReader(stdin), output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static (int Code, string Out, string Err) Detokenize(string dir, string stdin, bool skipSpecial = false, bool jsonl = false)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = DetokenizeCommand.Run(dir, skipSpecial, jsonl, new StringReader(stdin), output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static int[] Ids(string jsonLine) =>
        JsonDocument.Parse(jsonLine).RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();

    [Fact]
    public void TokenizePrintsTheTokenizerIdsOfStdin()
    {
        const string text = "Hello, paged attention!\nSecond line.";
        var (code, output, error) = Tokenize(RepoPaths.DemoModel, text);
        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Equal(HfTokenizer.FromDirectory(RepoPaths.DemoModel).Encode(text), Ids(output));
    }

    [Fact]
    public void AddSpecialTokensPrependsBos()
    {
        var plain = Ids(Tokenize(SpmDir, "Hello world").Out);
        var withSpecial = Ids(Tokenize(SpmDir, "Hello world", addSpecial: true).Out);
        Assert.Equal([1, .. plain], withSpecial);
    }

    [Fact]
    public void JsonlWritesOneLinePerRequestHonouringEachFlag()
    {
        string stdin = "{\"text\": \"Hello world\", \"add_special_tokens\": true}\n\n{\"text\": \"Hello world\", \"add_special_tokens\": false}\n";
        var (code, output, _) = Tokenize(SpmDir, stdin, jsonl: true);
        Assert.Equal(0, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Equal(1, Ids(lines[0])[0]);
        Assert.Equal(Ids(lines[0])[1..], Ids(lines[1]));
    }

    [Fact]
    public void DetokenizeInvertsTokenize()
    {
        const string text = "Streaming ✓ naïve 😀 text";
        var ids = Ids(Tokenize(RepoPaths.DemoModel, text).Out);
        var (code, output, _) = Detokenize(RepoPaths.DemoModel, "{\"ids\": [" + string.Join(",", ids) + "]}");
        Assert.Equal(0, code);
        Assert.Equal(text, JsonDocument.Parse(output).RootElement.GetProperty("text").GetString());
    }

    [Fact]
    public void DetokenizeJsonlSkipsSpecialTokensWhenAsked()
    {
        string stdin = "{\"ids\": [1, 352, 315]}\n{\"ids\": [1, 352, 315], \"skip_special_tokens\": true}\n";
        var tokenizer = HfTokenizer.FromDirectory(SpmDir);
        var (code, output, _) = Detokenize(SpmDir, stdin, jsonl: true);
        Assert.Equal(0, code);
        var texts = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!).ToArray();
        Assert.Equal(new[] { tokenizer.Decode([1, 352, 315]), tokenizer.Decode([1, 352, 315], skipSpecialTokens: true) }, texts);
        Assert.StartsWith("<s>", texts[0]);
        Assert.DoesNotContain("<s>", texts[1]);
    }

    [Fact]
    public void MissingModelDirectoryIsOneLineOnStderrAndExitCodeOne()
    {
        var (code, output, error) = Tokenize("/nonexistent/model-dir", "hi");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains("/nonexistent/model-dir", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void MissingTokenizerJsonIsNamed()
    {
        string dir = Directory.CreateTempSubdirectory("loom-tok-").FullName;
        try
        {
            var (code, _, error) = Detokenize(dir, "{\"ids\": [1]}");
            Assert.Equal(1, code);
            Assert.Contains("tokenizer.json", error);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void MalformedJsonlLineNamesTheLine()
    {
        var (code, _, error) = Tokenize(SpmDir, "{\"text\": \"ok\"}\n{not json\n", jsonl: true);
        Assert.Equal(1, code);
        Assert.Contains("line 2", error);
    }

    [Fact]
    public void RootCommandParsesBothCommandsWithTheirOptions()
    {
        var root = Program.BuildRoot();
        Assert.Empty(root.Parse(["tokenize", "--model", SpmDir, "--add-special-tokens", "--jsonl"]).Errors);
        Assert.Empty(root.Parse(["detokenize", "--skip-special-tokens", "--jsonl"]).Errors);
        Assert.NotEmpty(root.Parse(["tokenize", "--no-such-option"]).Errors);
    }
}
