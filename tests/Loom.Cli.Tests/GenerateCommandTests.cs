using System.CommandLine;
using System.Text.Json;
using Loom.Backends;
using Loom.Engine;
using Loom.Engine.Loading;
using Loom.Models.Weights;
using Loom.Tests;

namespace Loom.Cli.Tests;

public class GenerateCommandTests
{
    private sealed record Result(int ExitCode, string Stdout, string Stderr);

    private static Result Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.BuildRoot().Parse(["generate", .. args]).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        return new Result(code, stdout.ToString(), stderr.ToString());
    }

    private static (int[] TokenIds, string Text) ParseJson(string stdout)
    {
        using var doc = JsonDocument.Parse(stdout);
        return ([.. doc.RootElement.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32())],
            doc.RootElement.GetProperty("text").GetString()!);
    }

    [Fact]
    public void JsonOnTheDemoModelEqualsAGreedyRunThroughTheCpuExecutor()
    {
        var result = Run("--model", RepoPaths.DemoModel, "--prompt", "The KV cache", "--max-tokens", "12", "--temperature", "0", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var (ids, text) = ParseJson(result.Stdout);

        using var model = ModelLoader.Load(RepoPaths.DemoModel, new LoaderOptions { Engine = new EngineOptions { KvCacheBytes = 8 << 20 } });
        int[] prompt = model.Tokenizer!.Encode("The KV cache", addSpecialTokens: true);
        int[] expected = GreedyByRecomputation(model, prompt, 12, model.EosTokenIds);
        Assert.Equal(expected, ids);
        Assert.Equal(model.Tokenizer.Decode(expected.Where(t => !model.EosTokenIds.Contains(t)).ToArray(), skipSpecialTokens: true), text);
    }

    [Theory]
    [InlineData("llama-gqa")]
    [InlineData("qwen2-bias-tied")]
    [InlineData("phi3-fused")]
    public void PromptIdsOnAFixtureModelGiveTheGoldenGreedyTokens(string name)
    {
        string dir = RepoPaths.FixtureModel(name);
        using var goldenJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "golden.json")));
        var golden = goldenJson.RootElement.GetProperty("cases")[0];
        int[] greedy = [.. golden.GetProperty("greedy").EnumerateArray().Select(e => e.GetInt32())];
        double[] margins = [.. golden.GetProperty("greedy_margins").EnumerateArray().Select(e => e.GetDouble())];
        int[] prompt = ReadInputIds(Path.Combine(dir, "golden.safetensors"), "case0.input_ids");

        var result = Run("--model", dir, "--prompt-ids", string.Join(",", prompt), "--max-tokens", greedy.Length.ToString(),
            "--temperature", "0", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var (ids, _) = ParseJson(result.Stdout);

        // Compare up to the first step whose recorded top-1/top-2 margin is too small for float32 to be sure of.
        int trusted = Array.FindIndex(margins, m => m < 1e-3);
        if (trusted < 0) trusted = greedy.Length;
        int compared = Math.Min(trusted, ids.Length);
        Assert.True(compared >= Math.Min(trusted, 4), $"only {ids.Length} tokens generated");
        Assert.Equal(greedy[..compared], ids[..compared]);
        if (ids.Length < greedy.Length && ids.Length <= trusted) // stopped early: only EOS may do that
            Assert.Equal(greedy[ids.Length - 1], ids[^1]);
    }

    [Fact]
    public void StreamingPrintsTheSameTextAsJson()
    {
        string[] args = ["--model", RepoPaths.DemoModel, "--prompt", "Paged attention", "--max-tokens", "10", "--temperature", "0.7", "--seed", "11"];
        var streamed = Run(args);
        var json = Run([.. args, "--json"]);
        Assert.Equal(0, streamed.ExitCode);
        Assert.Equal(ParseJson(json.Stdout).Text + Environment.NewLine, streamed.Stdout);
    }

    [Fact]
    public void DummyWeightsRunFromAConfigAloneWithPromptIds()
    {
        string dir = Directory.CreateTempSubdirectory("loom-generate-").FullName;
        try
        {
            File.Copy(Path.Combine(RepoPaths.DemoModel, "config.json"), Path.Combine(dir, "config.json"));
            var result = Run("--model", dir, "--dummy-weights", "--prompt-ids", "1,2,3", "--max-tokens", "5", "--temperature", "0", "--json");
            Assert.True(result.ExitCode == 0, result.Stderr);
            var (ids, text) = ParseJson(result.Stdout);
            Assert.Equal(5, ids.Length);
            Assert.Equal("", text); // no tokenizer: ids only
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(new[] { "--model", "/definitely/not/here", "--prompt", "hi" }, "Model directory not found: /definitely/not/here")]
    [InlineData(new[] { "--prompt", "hi", "--prompt-ids", "1" }, "Give exactly one of --prompt and --prompt-ids")]
    [InlineData(new[] { "--prompt-ids", "1,x" }, "--prompt-ids: 'x' is not a token id")]
    [InlineData(new[] { "--prompt", "hi", "--temperature", "-1" }, "temperature must be >= 0")]
    public void ErrorsAreOneLineAndExitOne(string[] args, string message)
    {
        var result = Run(args.Contains("--model") ? args : ["--model", RepoPaths.DemoModel, .. args]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error: " + message, result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.Equal("", result.Stdout);
    }

    /// <summary>Reference greedy decoding that recomputes the whole sequence every step (no cache reuse across steps).</summary>
    private static int[] GreedyByRecomputation(LoadedModel model, int[] prompt, int maxTokens, IReadOnlyList<int> eos)
    {
        var tokens = new List<int>(prompt);
        var output = new List<int>();
        var logits = new float[model.Config.VocabSize];
        int blockSize = model.Executor.KvCache.BlockSize;
        for (int step = 0; step < maxTokens; step++)
        {
            int n = tokens.Count;
            model.Executor.Forward(ForwardBatch.Of(
                tokenIds: [.. tokens],
                positions: [.. Enumerable.Range(0, n)],
                seqs: [new SequenceSlice(0, n, n, [.. Enumerable.Range(0, (n + blockSize - 1) / blockSize)])],
                logitsIndices: [n - 1])).CopyTo(logits);
            int next = Array.IndexOf(logits, logits.Max());
            output.Add(next);
            tokens.Add(next);
            if (eos.Contains(next)) break;
        }
        return [.. output];
    }

    private static unsafe int[] ReadInputIds(string path, string tensor)
    {
        using var file = SafetensorsWeightSource.OpenFile(path);
        var info = file.Get(tensor);
        Assert.Equal(DType.I64, info.DType);
        var values = new ReadOnlySpan<long>(info.Data, (int)info.ElementCount);
        return [.. values.ToArray().Select(v => (int)v)];
    }
}
