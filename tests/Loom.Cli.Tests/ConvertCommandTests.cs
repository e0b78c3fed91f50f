using System.CommandLine;
using Loom.Models.Config;
using Loom.Models.Definition;
using Loom.Models.Gguf;
using Loom.Models.Weights;
using Loom.Tests;
using Loom.Tokenizers;

namespace Loom.Cli.Tests;

/// <summary>`loom convert`: writes what <see cref="GgufExporter"/> writes, readable by <see cref="GgufFile"/>; clear errors otherwise.</summary>
public sealed class ConvertCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loom-convert-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private sealed record Result(int ExitCode, string Stdout, string Stderr);

    private static Result Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.BuildRoot().Parse(["convert", .. args]).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        return new Result(code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void DemoModelToQ8_0ReadsBackWithQuantizedMatricesAndF32Norms()
    {
        string outPath = Path.Combine(_dir, "demo-q8_0.gguf");
        var result = Run("--model", RepoPaths.DemoModel, "--to", "gguf", "--type", "q8_0", "--out", outPath);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("Wrote", result.Stdout);
        Assert.False(File.Exists(outPath + ".partial"));

        using var file = GgufFile.Open(outPath);
        Assert.Equal("llama", file.Metadata.String("general.architecture"));
        Assert.Equal(7L, file.Metadata.Integer("general.file_type")); // LLAMA_FTYPE_MOSTLY_Q8_0
        Assert.Equal(GgmlType.Q8_0, file.TensorsByName["token_embd.weight"].Type);
        Assert.Equal(GgmlType.Q8_0, file.TensorsByName["blk.0.ffn_down.weight"].Type);
        Assert.Equal(GgmlType.F32, file.TensorsByName["blk.0.attn_norm.weight"].Type);
        using var gguf = GgufWeightSource.Open(outPath);
        var config = ModelConfigLoader.Load(RepoPaths.DemoModel);
        Assert.Equal(config with { EosTokenIds = [] }, gguf.Config with { EosTokenIds = [] });
        ModelDefinition.For(config).Validate(gguf);
        // The tokenizer is embedded: read back from the file, it encodes like the model's tokenizer.json.
        var embedded = GgufTokenizerReader.Load(file.Metadata);
        var original = HfTokenizer.FromDirectory(RepoPaths.DemoModel);
        const string Text = "The KV cache holds keys and values, 42 of them.";
        Assert.Equal(original.Encode(Text, addSpecialTokens: false), embedded.Encode(Text, addSpecialTokens: false));
    }

    [Theory]
    [InlineData("qwen2-bias-tied", "f16", GgmlType.F16)]
    [InlineData("phi3-fused", "q4_0", GgmlType.Q4_0)]
    [InlineData("llama-gqa", "BF16", GgmlType.BF16)]
    public void FixtureModelFileIsTheExportersFile(string model, string typeName, GgmlType type)
    {
        string dir = RepoPaths.FixtureModel(model);
        string outPath = Path.Combine(_dir, $"{model}.gguf");
        var result = Run("--model", dir, "--type", typeName, "--out", outPath);
        Assert.True(result.ExitCode == 0, result.Stderr);

        string reference = Path.Combine(_dir, $"{model}-reference.gguf");
        using (var weights = SafetensorsWeightSource.Open(dir))
            GgufExporter.Export(weights, ModelConfigLoader.Load(dir), reference, type, GgufTokenizerWriter.FromModelDirectory(dir));
        Assert.Equal(File.ReadAllBytes(reference), File.ReadAllBytes(outPath));
        using var file = GgufFile.Open(outPath);
        Assert.Contains(file.Tensors, t => t.Type == type);
    }

    [Fact]
    public void MissingModelDirectoryIsNamed()
    {
        string missing = Path.Combine(_dir, "no-such-model");
        var result = Run("--model", missing, "--out", Path.Combine(_dir, "x.gguf"));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"--model: directory not found: {missing}", result.Stderr);
    }

    [Fact]
    public void UnknownTypeAndFormatAreNamed()
    {
        var type = Run("--model", RepoPaths.DemoModel, "--type", "q5_k", "--out", Path.Combine(_dir, "x.gguf"));
        Assert.Equal(1, type.ExitCode);
        Assert.Contains("--type: unknown type 'q5_k' (expected f32, f16, bf16, q8_0, q4_0)", type.Stderr);
        var format = Run("--model", RepoPaths.DemoModel, "--to", "onnx", "--out", Path.Combine(_dir, "x.gguf"));
        Assert.Equal(1, format.ExitCode);
        Assert.Contains("--to: unknown format 'onnx' (expected gguf)", format.Stderr);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void UnwritableOutIsNamedAndLeavesNoFile()
    {
        var missingFolder = Run("--model", RepoPaths.DemoModel, "--out", Path.Combine(_dir, "nope", "x.gguf"));
        Assert.Equal(1, missingFolder.ExitCode);
        Assert.Contains($"--out: directory not found: {Path.Combine(_dir, "nope")}", missingFolder.Stderr);

        var isDirectory = Run("--model", RepoPaths.DemoModel, "--out", _dir);
        Assert.Equal(1, isDirectory.ExitCode);
        Assert.Contains("is a directory", isDirectory.Stderr);

        if (OperatingSystem.IsLinux()) // procfs refuses new files even to root
        {
            var refused = Run("--model", RepoPaths.DemoModel, "--out", "/proc/loom-test.gguf");
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains("--out: cannot write /proc/loom-test.gguf", refused.Stderr);
        }
    }

    [Fact]
    public void MissingRequiredOptionsAreReported()
    {
        var result = Run("--model", RepoPaths.DemoModel);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--out", result.Stderr);
    }
}
