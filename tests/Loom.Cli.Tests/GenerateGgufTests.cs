using System.CommandLine;
using Loom.Models.Config;
using Loom.Models.Gguf;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Cli.Tests;

/// <summary>`loom generate --model x.gguf`: a GGUF export of a checkpoint generates what the checkpoint generates.</summary>
public sealed class GenerateGgufTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("loom-generate-gguf-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private static (int ExitCode, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.BuildRoot().Parse(["generate", .. args]).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string ExportF32(string modelDir)
    {
        string path = Path.Combine(_temp, Path.GetFileName(modelDir) + ".gguf");
        using var weights = SafetensorsWeightSource.Open(modelDir);
        GgufExporter.Export(weights, ModelConfigLoader.Load(modelDir), path, GgmlType.F32, GgufTokenizerWriter.FromModelDirectory(modelDir));
        return path;
    }

    [Theory]
    [InlineData("demo")]
    [InlineData("llama-gqa")]
    public void GreedyJsonOutputOfTheGgufEqualsTheCheckpoints(string name)
    {
        string dir = name == "demo" ? RepoPaths.DemoModel : RepoPaths.FixtureModel(name);
        string gguf = ExportF32(dir);
        string[] args = ["--prompt", "The KV cache holds", "--max-tokens", "12", "--temperature", "0", "--json"];
        var fromDir = Run(["--model", dir, .. args]);
        var fromGguf = Run(["--model", gguf, .. args]);
        Assert.True(fromDir.ExitCode == 0, fromDir.Stderr);
        Assert.True(fromGguf.ExitCode == 0, fromGguf.Stderr);
        Assert.Contains("\"token_ids\"", fromGguf.Stdout);
        Assert.Equal(fromDir.Stdout, fromGguf.Stdout);
    }

    [Fact]
    public void TokenizeAndDetokenizeReadTheTokenizerInsideAGguf()
    {
        string gguf = ExportF32(RepoPaths.FixtureModel("llama-gqa"));
        const string text = "Paged attention, 42 blocks!";
        var (fromDir, fromGguf, back) = (new StringWriter(), new StringWriter(), new StringWriter());
        Assert.Equal(0, TokenizeCommand.Run(RepoPaths.FixtureModel("llama-gqa"), true, false, new StringReader(text), fromDir, TextWriter.Null));
        Assert.Equal(0, TokenizeCommand.Run(gguf, true, false, new StringReader(text), fromGguf, TextWriter.Null));
        Assert.Equal(fromDir.ToString(), fromGguf.ToString());
        Assert.Equal(0, DetokenizeCommand.Run(gguf, true, false, new StringReader(fromGguf.ToString()), back, TextWriter.Null));
        Assert.Contains(text, back.ToString());

        var error = new StringWriter();
        Assert.Equal(1, TokenizeCommand.Run(Path.Combine(_temp, "missing.gguf"), false, false, new StringReader(text), TextWriter.Null, error));
        Assert.StartsWith("error: ", error.ToString());
    }

    /// <summary>generate accepts a folder holding one .gguf (and no safetensors); tokenize must read the same tokenizer.</summary>
    [Fact]
    public void TokenizeReadsTheGgufInsideAFolderAsGenerateDoes()
    {
        string folder = Directory.CreateDirectory(Path.Combine(_temp, "folder")).FullName;
        File.Move(ExportF32(RepoPaths.FixtureModel("llama-gqa")), Path.Combine(folder, "model.gguf"));
        const string text = "Paged attention, 42 blocks!";
        var (fromDir, fromFolder, error) = (new StringWriter(), new StringWriter(), new StringWriter());
        Assert.Equal(0, TokenizeCommand.Run(RepoPaths.FixtureModel("llama-gqa"), true, false, new StringReader(text), fromDir, TextWriter.Null));
        Assert.Equal(0, TokenizeCommand.Run(folder, true, false, new StringReader(text), fromFolder, error));
        Assert.Equal("", error.ToString());
        Assert.Equal(fromDir.ToString(), fromFolder.ToString());
    }

    [Fact]
    public void AFileThatIsNotGgufIsAClearError()
    {
        var result = Run("--model", Path.Combine(RepoPaths.DemoModel, "config.json"), "--prompt", "hi");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("not a .gguf", result.Stderr);
    }
}
