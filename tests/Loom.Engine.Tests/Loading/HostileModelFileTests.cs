using Loom.Engine.Loading;
using Loom.Models;
using Loom.Tests;
using Loom.Tokenizers;

namespace Loom.Engine.Tests.Loading;

/// <summary>Model directories with non-regular files or a tokenizer too big for the model (issue 16, defects 11, 12).</summary>
public sealed class HostileModelFileTests : IDisposable
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);
    private static readonly string[] DemoFiles =
        ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"];
    private readonly string _dir = Directory.CreateTempSubdirectory("loom-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static LoaderOptions Small() => new() { Engine = new EngineOptions { KvCacheBytes = 1 << 20 }, NumThreads = 1 };

    /// <summary>The demo model's files as symlinks (as a Hugging Face cache snapshot holds them), except those named.</summary>
    private void LinkDemoExcept(params string[] except)
    {
        foreach (var f in DemoFiles.Except(except))
            File.CreateSymbolicLink(Path.Combine(_dir, f), Path.Combine(RepoPaths.DemoModel, f));
    }

    private string Fifo(string name)
    {
        string path = Path.Combine(_dir, name);
        Skip.IfNot(HostileFiles.TryMakeFifo(path), "mkfifo is not available here");
        return path;
    }

    [Fact]
    public void AModelOfSymlinksLoads()
    {
        LinkDemoExcept();
        using var model = ModelLoader.Load(_dir, Small());
        Assert.NotNull(model.Tokenizer);
    }

    [SkippableTheory]
    [InlineData("model.safetensors")]
    [InlineData("config.json")]
    [InlineData("tokenizer.json")]
    [InlineData("generation_config.json")]
    public void AFifoInTheModelDirectoryIsRefusedAtOnce(string name)
    {
        string fifo = Fifo(name);
        LinkDemoExcept(name);
        var e = HostileFiles.ThrownWithin(Guard, () => ModelLoader.Load(_dir, Small()).Dispose());
        Assert.Contains($"{fifo} is a FIFO", Assert.IsType<ModelLoadException>(e).Message);
    }

    [SkippableFact]
    public void AFifoGgufIsRefusedAtOnce()
    {
        string fifo = Fifo("model.gguf");
        var e = HostileFiles.ThrownWithin(Guard, () => ModelLoader.Load(fifo, Small()).Dispose());
        Assert.Contains($"{fifo} is a FIFO", Assert.IsType<ModelLoadException>(e).Message);
    }

    [Fact]
    public void ADirectoryWhereTheWeightsShouldBeIsNamed()
    {
        LinkDemoExcept("model.safetensors");
        string dir = Directory.CreateDirectory(Path.Combine(_dir, "model.safetensors")).FullName;
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(_dir, Small()).Dispose());
        Assert.Contains($"{dir} is a directory", e.Message);
    }

    [Fact]
    public void ATokenizerLargerThanTheConfigsVocabSizeIsRefusedAtLoad()
    {
        LinkDemoExcept("config.json");
        int tokens = HfTokenizer.FromDirectory(RepoPaths.DemoModel).VocabSize;
        string config = File.ReadAllText(Path.Combine(RepoPaths.DemoModel, "config.json"));
        File.WriteAllText(Path.Combine(_dir, "config.json"), config.Replace("\"vocab_size\": 4096", $"\"vocab_size\": {tokens - 1}"));
        var e = Assert.Throws<ModelLoadException>(() => ModelLoader.Load(_dir, Small() with { DummyWeights = true }).Dispose());
        Assert.Contains(Path.Combine(_dir, "tokenizer.json"), e.Message);
        Assert.Contains($"vocab_size {tokens - 1}", e.Message);
    }
}
