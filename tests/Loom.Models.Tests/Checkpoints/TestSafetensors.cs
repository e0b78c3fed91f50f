using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Loom.Models.Tests.Checkpoints;

/// <summary>A tensor to write: name, safetensors dtype string, shape and raw bytes.</summary>
internal sealed record RawTensor(string Name, string DType, long[] Shape, byte[] Data);

/// <summary>Builds safetensors files byte by byte, so tests control (and can break) every field.</summary>
internal static class TestSafetensors
{
    /// <summary>A valid file: header JSON (tensors packed in order), then the data region.</summary>
    public static byte[] Build(IEnumerable<RawTensor> tensors, IDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object>();
        if (metadata != null) header["__metadata__"] = metadata;
        var data = new MemoryStream();
        foreach (var t in tensors)
        {
            header[t.Name] = new { dtype = t.DType, shape = t.Shape, data_offsets = new[] { data.Length, data.Length + t.Data.Length } };
            data.Write(t.Data);
        }
        return Assemble(JsonSerializer.Serialize(header), data.ToArray());
    }

    /// <summary>8-byte length + header (padded with spaces to a multiple of 8, as the reference writer does) + data.</summary>
    public static byte[] Assemble(string headerJson, byte[] data, long? claimedHeaderLength = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        int padded = (header.Length + 7) / 8 * 8;
        var file = new byte[8 + padded + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)(claimedHeaderLength ?? padded));
        header.CopyTo(file, 8);
        file.AsSpan(8 + header.Length, padded - header.Length).Fill((byte)' ');
        data.CopyTo(file, 8 + padded);
        return file;
    }

    public static RawTensor F32(string name, long[] shape, int seed)
    {
        long n = shape.Aggregate(1L, (a, d) => a * d);
        var values = new float[n];
        var rng = new Random(seed);
        for (int i = 0; i < n; i++) values[i] = (float)(rng.NextDouble() - 0.5);
        var bytes = new byte[n * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return new RawTensor(name, "F32", shape, bytes);
    }

    /// <summary>A fresh temporary directory, deleted on Dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("loom-ckpt-").FullName;
        public string File(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
