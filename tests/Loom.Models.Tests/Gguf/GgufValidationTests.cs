using System.Buffers.Binary;
using System.Text;
using Loom.Models.Gguf;
using Loom.Models.Tests.Checkpoints;

namespace Loom.Models.Tests.Gguf;

/// <summary>Corrupt or hostile GGUF files give ModelLoadException naming the file; nothing is read outside it.</summary>
public class GgufValidationTests
{
    private static byte[] ValidFile()
    {
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        w.Add("general.name", "tiny");
        w.Add("tokenizer.ggml.tokens", new[] { "a", "b", "c" });
        w.Add("tokenizer.ggml.scores", new[] { 0f, -1f, -2f });
        w.Add("llama.block_count", 1u);
        w.AddTensor("token_embd.weight", GgmlType.F32, [4, 3], s => s.Write(new byte[48]));
        w.AddTensor("blk.0.attn_q.weight", GgmlType.Q8_0, [32, 2], s => s.Write(new byte[68]));
        w.AddTensor("output_norm.weight", GgmlType.F16, [4], s => s.Write(new byte[8]));
        var stream = new MemoryStream();
        w.Write(stream);
        return stream.ToArray();
    }

    private static string WriteTemp(TestSafetensors.TempDir dir, byte[] bytes)
    {
        string path = dir.File("x.gguf");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void ValidFileReadsBack()
    {
        using var dir = new TestSafetensors.TempDir();
        using var f = GgufFile.Open(WriteTemp(dir, ValidFile()));
        Assert.Equal(3u, f.Version);
        Assert.Equal(["a", "b", "c"], f.Metadata.Array<string>("tokenizer.ggml.tokens")!);
        Assert.Equal(1, f.Metadata.Int("llama.block_count"));
        Assert.Equal(3, f.Tensors.Count);
        Assert.Equal(68, f.TensorsByName["blk.0.attn_q.weight"].ByteLength);
        Assert.Equal([3L, 4L], f.TensorsByName["token_embd.weight"].TorchShape);
        Assert.Equal(0, f.DataOffset % 32);
    }

    private static string Reject(byte[] bytes, string? expected = null)
    {
        using var dir = new TestSafetensors.TempDir();
        string path = WriteTemp(dir, bytes);
        var e = Assert.Throws<ModelLoadException>(() => GgufFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        if (expected != null) Assert.Contains(expected, e.Message);
        return e.Message;
    }

    private static int IndexOf(byte[] file, string text) => file.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text));

    [Fact]
    public void BadMagicAndVersion()
    {
        Reject(Encoding.ASCII.GetBytes("GGML0000000000000000000000"), "magic");
        var v1 = ValidFile();
        BinaryPrimitives.WriteUInt32LittleEndian(v1.AsSpan(4), 1);
        Reject(v1, "version 1");
        Reject([], "too short");
    }

    [Fact]
    public void LyingCounts()
    {
        var f = ValidFile();
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(8), ulong.MaxValue);
        Reject(f, "tensor count");
        f = ValidFile();
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(16), 1UL << 40);
        Reject(f, "metadata count");
    }

    [Fact]
    public void HugeStringLength()
    {
        var f = ValidFile();
        int key = IndexOf(f, "general.name");
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(key - 8), 1UL << 62);
        Reject(f, "claims");
    }

    [Fact]
    public void HugeArrayLength()
    {
        var f = ValidFile();
        int key = IndexOf(f, "tokenizer.ggml.scores");
        // key, then value type (4), element type (4), count (8)
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(key + "tokenizer.ggml.scores".Length + 8), 1UL << 50);
        Reject(f, "array length");
    }

    [Fact]
    public void UnknownValueAndTensorTypes()
    {
        var f = ValidFile();
        int key = IndexOf(f, "general.name");
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(key + "general.name".Length), 99);
        Reject(f, "unknown value type 99");

        f = ValidFile();
        int name = IndexOf(f, "output_norm.weight");
        // name, n_dims (4), dims (8), type (4)
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(name + "output_norm.weight".Length + 12), 77);
        Assert.Contains("output_norm.weight", Reject(f, "ggml type 77"));
    }

    [Fact]
    public void OffsetPastTheEnd()
    {
        var f = ValidFile();
        int name = IndexOf(f, "output_norm.weight");
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(name + "output_norm.weight".Length + 16), 1 << 20);
        Assert.Contains("output_norm.weight", Reject(f, "past the end"));
    }

    [Fact]
    public void OverlappingTensors()
    {
        var f = ValidFile();
        int name = IndexOf(f, "output_norm.weight");
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(name + "output_norm.weight".Length + 16), 0);
        Reject(f, "overlaps");
    }

    [Fact]
    public void TruncatedData() => Reject(ValidFile()[..^40], "past the end");

    [Fact]
    public void FuzzedFilesLoadConsistentlyOrThrowModelLoadException()
    {
        var valid = ValidFile();
        var rng = new Random(77);
        using var dir = new TestSafetensors.TempDir();
        int rejected = 0;
        for (int i = 0; i < 600; i++)
        {
            var f = (byte[])valid.Clone();
            switch (i % 3)
            {
                case 0:
                    for (int k = rng.Next(1, 4); k > 0; k--) f[rng.Next(f.Length)] ^= (byte)(1 << rng.Next(8));
                    break;
                case 1:
                    f = f[..rng.Next(f.Length)];
                    break;
                default: // overwrite an aligned 8-byte word with a hostile number
                    int at = rng.Next(f.Length / 8) * 8;
                    ulong[] lies = [0, 1, 255, 1UL << 32, 1UL << 63, ulong.MaxValue, (ulong)rng.NextInt64()];
                    BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(at), lies[rng.Next(lies.Length)]);
                    break;
            }
            string path = WriteTemp(dir, f);
            try
            {
                using var g = GgufFile.Open(path);
                foreach (var t in g.Tensors)
                {
                    Assert.True(g.DataOffset + t.Offset + t.ByteLength <= f.Length, t.Name);
                    unsafe { _ = new ReadOnlySpan<byte>(t.Data, (int)t.ByteLength).ToArray(); }
                }
            }
            catch (ModelLoadException)
            {
                rejected++;
            }
        }
        Assert.True(rejected > 200, $"only {rejected} rejected");
    }
}
