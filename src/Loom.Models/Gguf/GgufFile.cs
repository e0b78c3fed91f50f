using System.Text;
using Loom.Models.Weights;

namespace Loom.Models.Gguf;

/// <summary>
/// A GGUF file (version 2 or 3), memory-mapped read-only: header, key-value metadata, tensor descriptions, and the
/// aligned data section. Everything the file claims (counts, string and array lengths, types, dimensions, offsets) is
/// checked against the file's size before use, so a corrupt or hostile file gives a <see cref="ModelLoadException"/>
/// and nothing is ever read outside the mapping. Tensors are valid until Dispose.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    public const uint Magic = 0x4655_4747; // "GGUF" read as a little-endian uint32
    public const int DefaultAlignment = 32;
    /// <summary>ggml's GGML_MAX_DIMS.</summary>
    public const int MaxDims = 4;

    private readonly MappedFile _file;
    private readonly Dictionary<string, GgufTensor> _byName;

    public string Path { get; }
    public uint Version { get; }
    public GgufMetadata Metadata { get; }
    /// <summary>Tensors in file order.</summary>
    public IReadOnlyList<GgufTensor> Tensors { get; }
    public IReadOnlyDictionary<string, GgufTensor> TensorsByName => _byName;
    public int Alignment { get; }
    /// <summary>Byte offset of the data section in the file.</summary>
    public long DataOffset { get; }

    private GgufFile(string path, MappedFile file, uint version, GgufMetadata metadata, List<GgufTensor> tensors, int alignment, long dataOffset)
    {
        Path = path;
        _file = file;
        Version = version;
        Metadata = metadata;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Alignment = alignment;
        DataOffset = dataOffset;
    }

    public static GgufFile Open(string path)
    {
        var file = MappedFile.Open(path, minLength: 1);
        try
        {
            return Parse(path, file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public void Dispose() => _file.Dispose();

    private static GgufFile Parse(string path, MappedFile file)
    {
        var r = new GgufCursor(file.Pointer, file.Length, path);
        if (file.Length < 4 || r.U32() != Magic) throw new ModelLoadException($"{path}: not a GGUF file (no 'GGUF' magic).");
        uint version = r.U32();
        if (version is 1) throw new ModelLoadException($"{path}: GGUF version 1 is not supported (only 2 and 3); re-convert the model.");
        if (version is not (2 or 3))
            throw new ModelLoadException($"{path}: GGUF version {version} is not supported (only 2 and 3{(version > 0xFFFF ? "; a big-endian file?" : "")}).");
        ulong tensorCount = r.U64(), kvCount = r.U64();
        // Each entry needs at least this many bytes, so larger counts are lies (and would otherwise allocate hugely).
        r.CheckCount(tensorCount, 24, "tensor count");
        r.CheckCount(kvCount, 13, "metadata count");

        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        for (ulong i = 0; i < kvCount; i++)
        {
            string key = r.String("metadata key");
            if (values.ContainsKey(key)) throw new ModelLoadException($"{path}: metadata key '{key}' appears twice.");
            values[key] = r.Value((GgufValueType)r.U32(), key);
        }
        var metadata = new GgufMetadata(values, path);
        int alignment = ReadAlignment(metadata, path);

        var infos = new List<(string Name, GgmlType Type, long[] Dims, long Offset, long Bytes)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            var info = ReadTensorInfo(r, path, alignment);
            if (!names.Add(info.Name)) throw new ModelLoadException($"{path}: tensor '{info.Name}' appears twice.");
            infos.Add(info);
        }

        long dataOffset = AlignUp(r.Position, alignment);
        if (infos.Count > 0 && dataOffset > file.Length)
            throw new ModelLoadException($"{path}: the data section would start at byte {dataOffset}, past the end of the file ({file.Length} bytes).");
        long dataLength = Math.Max(0, file.Length - dataOffset);
        CheckPlacement(infos, dataLength, path);
        var tensors = infos.Select(t => new GgufTensor(t.Name, t.Type, t.Dims, t.Offset, t.Bytes, file.Pointer + dataOffset + t.Offset)).ToList();
        return new GgufFile(path, file, version, metadata, tensors, alignment, dataOffset);
    }

    private static int ReadAlignment(GgufMetadata metadata, string path)
    {
        if (!metadata.Contains("general.alignment")) return DefaultAlignment;
        long a = metadata.Integer("general.alignment")!.Value;
        if (a <= 0 || a > 1 << 20 || (a & (a - 1)) != 0)
            throw new ModelLoadException($"{path}: general.alignment {a} is not a power of two up to 1 MiB.");
        return (int)a;
    }

    private static (string Name, GgmlType Type, long[] Dims, long Offset, long Bytes) ReadTensorInfo(GgufCursor r, string path, int alignment)
    {
        string name = r.String("tensor name");
        uint nDims = r.U32();
        if (nDims is 0 or > MaxDims) throw new ModelLoadException($"{path}: tensor '{name}' has {nDims} dimensions (1 to {MaxDims} allowed).");
        var dims = new long[nDims];
        long elements = 1;
        for (int d = 0; d < nDims; d++)
        {
            ulong dim = r.U64();
            if (dim > long.MaxValue) throw new ModelLoadException($"{path}: tensor '{name}' has an impossible dimension {dim}.");
            dims[d] = (long)dim;
            if (dim != 0 && elements > long.MaxValue / (long)dim) throw new ModelLoadException($"{path}: tensor '{name}' has too many elements.");
            elements *= (long)dim;
        }
        uint typeId = r.U32();
        var type = (GgmlType)typeId;
        var block = GgmlTypes.Block(type) ?? throw new ModelLoadException($"{path}: tensor '{name}' has unknown or unsupported ggml type {typeId}.");
        if (dims[0] % block.Elements != 0)
            throw new ModelLoadException($"{path}: tensor '{name}' ({type}) has a row of {dims[0]} elements, not a multiple of the block size {block.Elements}.");
        ulong offset = r.U64();
        if (offset > long.MaxValue || (long)offset % alignment != 0)
            throw new ModelLoadException($"{path}: tensor '{name}' offset {offset} is not aligned to {alignment} bytes.");
        long bytes = elements / block.Elements * block.Bytes;
        return (name, type, dims, (long)offset, bytes);
    }

    /// <summary>Tensors must lie inside the data section and must not overlap.</summary>
    private static void CheckPlacement(List<(string Name, GgmlType Type, long[] Dims, long Offset, long Bytes)> infos, long dataLength, string path)
    {
        long previousEnd = 0;
        string? previous = null;
        foreach (var t in infos.OrderBy(t => t.Offset))
        {
            if (t.Bytes > dataLength || t.Offset > dataLength - t.Bytes)
                throw new ModelLoadException($"{path}: tensor '{t.Name}' ({t.Bytes} bytes at data offset {t.Offset}) runs past the end of the file.");
            if (t.Offset < previousEnd)
                throw new ModelLoadException($"{path}: tensor '{t.Name}' overlaps tensor '{previous}'.");
            previousEnd = t.Offset + t.Bytes;
            previous = t.Name;
        }
    }

    internal static long AlignUp(long value, int alignment) => (value + alignment - 1) / alignment * alignment;
}

/// <summary>A bounds-checked little-endian reader over the mapped file; every read that would pass the end throws.</summary>
internal sealed unsafe class GgufCursor(byte* start, long length, string path)
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public long Position { get; private set; }

    private long Remaining => length - Position;

    private byte* Take(long count, string what)
    {
        if (count < 0 || count > Remaining)
            throw new ModelLoadException($"{path}: {what} at byte {Position} needs {count} bytes but the file ends at {length}.");
        byte* p = start + Position;
        Position += count;
        return p;
    }

    public byte U8() => *Take(1, "a value");
    public ushort U16() => System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(Take(2, "a value"), 2));
    public uint U32() => System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(Take(4, "a value"), 4));
    public ulong U64() => System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(Take(8, "a value"), 8));

    public void CheckCount(ulong count, int minBytesEach, string what)
    {
        if (count > (ulong)Math.Max(0, Remaining) / (ulong)minBytesEach)
            throw new ModelLoadException($"{path}: {what} {count} is larger than the rest of the file can hold.");
    }

    public string String(string what)
    {
        ulong len = U64();
        if (len > (ulong)Remaining) throw new ModelLoadException($"{path}: {what} at byte {Position - 8} claims {len} bytes; the file ends at {length}.");
        byte* p = Take((long)len, what);
        try { return StrictUtf8.GetString(p, (int)Math.Min(len, int.MaxValue)); }
        catch (DecoderFallbackException) { throw new ModelLoadException($"{path}: {what} at byte {Position - (long)len} is not valid UTF-8."); }
        catch (ArgumentException) { throw new ModelLoadException($"{path}: {what} at byte {Position - (long)len} is too long."); }
    }

    public object Value(GgufValueType type, string key) => type switch
    {
        GgufValueType.UInt8 => U8(),
        GgufValueType.Int8 => (sbyte)U8(),
        GgufValueType.UInt16 => U16(),
        GgufValueType.Int16 => (short)U16(),
        GgufValueType.UInt32 => U32(),
        GgufValueType.Int32 => (int)U32(),
        GgufValueType.Float32 => BitConverter.UInt32BitsToSingle(U32()),
        GgufValueType.Bool => Bool(key),
        GgufValueType.String => String($"value of '{key}'"),
        GgufValueType.UInt64 => U64(),
        GgufValueType.Int64 => (long)U64(),
        GgufValueType.Float64 => BitConverter.UInt64BitsToDouble(U64()),
        GgufValueType.Array => Array(key),
        _ => throw new ModelLoadException($"{path}: metadata '{key}' has unknown value type {(uint)type}."),
    };

    private bool Bool(string key)
    {
        byte b = U8();
        return b switch { 0 => false, 1 => true, _ => throw new ModelLoadException($"{path}: metadata '{key}' is a bool with value {b}.") };
    }

    private object Array(string key)
    {
        var elementType = (GgufValueType)U32();
        ulong count = U64();
        int size = elementType switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
            GgufValueType.Array => throw new ModelLoadException($"{path}: metadata '{key}' is an array of arrays (not supported)."),
            _ => throw new ModelLoadException($"{path}: metadata '{key}' is an array of unknown type {(uint)elementType}."),
        };
        CheckCount(count, size, $"array length of '{key}'");
        int n = (int)count;
        return elementType switch
        {
            GgufValueType.String => Fill(n, c => c.String($"element of '{key}'")),
            GgufValueType.UInt8 => Fill(n, c => c.U8()),
            GgufValueType.Int8 => Fill(n, c => (sbyte)c.U8()),
            GgufValueType.Bool => Fill(n, c => c.Bool(key)),
            GgufValueType.UInt16 => Fill(n, c => c.U16()),
            GgufValueType.Int16 => Fill(n, c => (short)c.U16()),
            GgufValueType.UInt32 => Fill(n, c => c.U32()),
            GgufValueType.Int32 => Fill(n, c => (int)c.U32()),
            GgufValueType.Float32 => Fill(n, c => BitConverter.UInt32BitsToSingle(c.U32())),
            GgufValueType.UInt64 => Fill(n, c => c.U64()),
            GgufValueType.Int64 => Fill(n, c => (long)c.U64()),
            _ => Fill(n, c => BitConverter.UInt64BitsToDouble(c.U64())),
        };
    }

    private T[] Fill<T>(int n, Func<GgufCursor, T> read)
    {
        var result = new T[n];
        for (int i = 0; i < n; i++) result[i] = read(this);
        return result;
    }
}
