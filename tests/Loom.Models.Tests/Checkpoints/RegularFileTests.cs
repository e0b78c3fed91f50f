using Loom.IO;
using Loom.Tests;
using Loom.Tokenizers;

namespace Loom.Models.Tests.Checkpoints;

/// <summary>Only regular files (or symlinks to them) are opened as model files (issue 16, defect 12).</summary>
public sealed class RegularFileTests : IDisposable
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("loom-regular-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Fifo(string name)
    {
        string path = Path.Combine(_dir, name);
        Skip.IfNot(HostileFiles.TryMakeFifo(path), "mkfifo is not available here");
        return path;
    }

    [Fact]
    public void ARegularFileAndASymlinkToOnePass()
    {
        string file = Path.Combine(_dir, "config.json");
        File.WriteAllText(file, "{}");
        Assert.Null(RegularFile.Problem(file));
        string link = Path.Combine(_dir, "link.json");
        File.CreateSymbolicLink(link, file);   // the Hugging Face cache's snapshots/ are links into blobs/
        Assert.Null(RegularFile.Problem(link));
    }

    [SkippableFact]
    public void AFifoIsRefusedNamingThePathAndWhereALinkLeads()
    {
        string fifo = Fifo("model.safetensors");
        Assert.Contains($"{fifo} is a FIFO", RegularFile.Problem(fifo));
        string link = Path.Combine(_dir, "linked.safetensors");
        File.CreateSymbolicLink(link, fifo);
        Assert.Contains($"{link} (a link to {fifo}) is a FIFO", RegularFile.Problem(link));
    }

    [Fact]
    public void ADirectoryAMissingFileAndADeviceAreRefused()
    {
        string dir = Directory.CreateDirectory(Path.Combine(_dir, "tokenizer.json")).FullName;
        Assert.Contains($"{dir} is a directory", RegularFile.Problem(dir));
        Assert.Contains("File not found", RegularFile.Problem(Path.Combine(_dir, "nope.json")));
        if (OperatingSystem.IsLinux()) Assert.Contains("/dev/null is a device", RegularFile.Problem("/dev/null"));
    }

    [SkippableFact]
    public void MappingAFifoFailsAtOnceInsteadOfWaitingForAWriter()
    {
        string fifo = Fifo("model.safetensors");
        var e = HostileFiles.ThrownWithin(Guard, () => Weights.SafetensorsWeightSource.OpenFile(fifo).Dispose());
        Assert.Contains("is a FIFO", Assert.IsType<ModelLoadException>(e).Message);
    }

    [SkippableFact]
    public void AFifoConfigOrTokenizerFailsAtOnce()
    {
        Fifo("config.json");
        var config = HostileFiles.ThrownWithin(Guard, () => Config.ModelConfigLoader.Load(_dir));
        Assert.Contains("config.json is a FIFO", Assert.IsType<ModelLoadException>(config).Message);

        Fifo("tokenizer.json");
        var tokenizer = HostileFiles.ThrownWithin(Guard, () => HfTokenizer.FromDirectory(_dir));
        Assert.Contains("tokenizer.json is a FIFO", Assert.IsType<TokenizerFormatException>(tokenizer).Message);
    }

    [Fact]
    public void ADirectoryWhereTheTokenizerShouldBeIsNamed()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "tokenizer.json"));
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromDirectory(_dir));
        Assert.Contains("tokenizer.json is a directory", e.Message);
    }
}
