using Loom.Models.Gguf;
using Loom.Models.Tests.Checkpoints;

namespace Loom.Models.Tests.Gguf;

/// <summary>What the GGUF tokenizer tests share: the fixture tokenizers, and metadata passed through a real file.</summary>
internal static class GgufMetadataFiles
{
    public static readonly string[] FixtureTokenizers = ["bytebpe-qwen", "bytebpe-llama3", "spm-legacy", "spm-metaspace"];

    /// <summary>Writes the metadata alone into a GGUF file and reads it back, so the value types are the file's.</summary>
    public static GgufMetadata RoundTrip(IEnumerable<(string Key, object Value)> metadata)
    {
        var writer = new GgufWriter();
        foreach (var (key, value) in metadata) writer.Add(key, value);
        using var temp = new TestSafetensors.TempDir();
        string path = temp.File("vocab.gguf");
        writer.Write(path);
        using var file = GgufFile.Open(path);
        return file.Metadata;
    }
}
