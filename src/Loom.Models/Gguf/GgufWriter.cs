using System.Text;

namespace Loom.Models.Gguf;

/// <summary>
/// Writes a GGUF version 3 file: metadata in insertion order, then tensor descriptions, then the tensor data, each
/// tensor aligned to <see cref="GgufFile.DefaultAlignment"/> bytes. Tensor bytes come from callbacks so that large
/// tensors are converted or quantized while streaming to disk, a chunk at a time.
/// </summary>
public sealed class GgufWriter
{
    private sealed record PendingTensor(string Name, GgmlType Type, long[] Dims, long ByteLength, Action<Stream> WriteData);

    private readonly List<(string Key, object Value)> _metadata = [];
    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);

    /// <summary>Adds a metadata value: a scalar (byte, sbyte, ushort, short, uint, int, float, bool, ulong, long, double),
    /// a string, or an array of one of those.</summary>
    public void Add(string key, object value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!_keys.Add(key)) throw new ArgumentException($"Metadata key '{key}' was already added.", nameof(key));
        TypeOf(value.GetType()); // reject unsupported types now, not at write time
        _metadata.Add((key, value));
    }

    /// <summary>Adds a tensor; <paramref name="ggmlDims"/> in ggml order (innermost first); the callback must write exactly its bytes.</summary>
    public void AddTensor(string name, GgmlType type, long[] ggmlDims, Action<Stream> writeData)
    {
        var block = GgmlTypes.Block(type) ?? throw new ArgumentException($"Unknown ggml type {type}.", nameof(type));
        long elements = ggmlDims.Aggregate(1L, (a, d) => checked(a * d));
        if (ggmlDims.Length is 0 or > GgufFile.MaxDims || ggmlDims[0] % block.Elements != 0)
            throw new ArgumentException($"Tensor '{name}': dims [{string.Join(",", ggmlDims)}] do not fit {type}.", nameof(ggmlDims));
        _tensors.Add(new PendingTensor(name, type, ggmlDims, elements / block.Elements * block.Bytes, writeData));
    }

    public void Write(string path)
    {
        string temp = path + ".partial";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            Write(stream);
        File.Move(temp, path, overwrite: true);
    }

    public void Write(Stream stream)
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufFile.Magic);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(w, key);
            var type = TypeOf(value.GetType());
            w.Write((uint)type);
            WriteValue(w, value, type);
        }
        long offset = 0;
        foreach (var t in _tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Dims.Length);
            foreach (long d in t.Dims) w.Write((ulong)d);
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offset = GgufFile.AlignUp(offset + t.ByteLength, GgufFile.DefaultAlignment);
        }
        w.Flush();
        Pad(stream);
        foreach (var t in _tensors)
        {
            long start = stream.Position;
            t.WriteData(stream);
            if (stream.Position - start != t.ByteLength)
                throw new InvalidOperationException($"Tensor '{t.Name}': wrote {stream.Position - start} bytes, expected {t.ByteLength}.");
            Pad(stream);
        }
    }

    private static void Pad(Stream stream)
    {
        long padded = GgufFile.AlignUp(stream.Position, GgufFile.DefaultAlignment);
        for (long i = stream.Position; i < padded; i++) stream.WriteByte(0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static GgufValueType TypeOf(Type t) => t switch
    {
        _ when t == typeof(byte) => GgufValueType.UInt8,
        _ when t == typeof(sbyte) => GgufValueType.Int8,
        _ when t == typeof(ushort) => GgufValueType.UInt16,
        _ when t == typeof(short) => GgufValueType.Int16,
        _ when t == typeof(uint) => GgufValueType.UInt32,
        _ when t == typeof(int) => GgufValueType.Int32,
        _ when t == typeof(float) => GgufValueType.Float32,
        _ when t == typeof(bool) => GgufValueType.Bool,
        _ when t == typeof(string) => GgufValueType.String,
        _ when t == typeof(ulong) => GgufValueType.UInt64,
        _ when t == typeof(long) => GgufValueType.Int64,
        _ when t == typeof(double) => GgufValueType.Float64,
        { IsArray: true } when t.GetElementType() is { IsArray: false } e && TypeOf(e) != GgufValueType.Array => GgufValueType.Array,
        _ => throw new ArgumentException($"GGUF cannot store a {t.Name}."),
    };

    private static void WriteValue(BinaryWriter w, object value, GgufValueType type)
    {
        switch (value)
        {
            case byte v: w.Write(v); break;
            case sbyte v: w.Write(v); break;
            case ushort v: w.Write(v); break;
            case short v: w.Write(v); break;
            case uint v: w.Write(v); break;
            case int v: w.Write(v); break;
            case float v: w.Write(v); break;
            case bool v: w.Write((byte)(v ? 1 : 0)); break;
            case string v: WriteString(w, v); break;
            case ulong v: w.Write(v); break;
            case long v: w.Write(v); break;
            case double v: w.Write(v); break;
            case Array array:
                var elementType = TypeOf(array.GetType().GetElementType()!);
                w.Write((uint)elementType);
                w.Write((ulong)array.Length);
                foreach (var item in array) WriteValue(w, item!, elementType);
                break;
            default: throw new ArgumentException($"GGUF cannot store a {value.GetType().Name} as {type}.");
        }
    }
}
