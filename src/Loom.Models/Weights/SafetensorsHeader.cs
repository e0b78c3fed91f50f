using System.Buffers.Binary;
using System.Text.Json;

namespace Loom.Models.Weights;

/// <summary>One tensor as a safetensors header declares it; offsets are relative to the start of the data region.</summary>
internal sealed record SafetensorsEntry(string Name, DType DType, long[] Shape, long Begin, long End);

/// <summary>
/// Parses and validates a safetensors header against the file it came from. The format: an 8-byte little-endian
/// header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
/// then the data region, which the tensors must cover exactly (no holes, no overlaps), as the reference
/// implementation requires. Everything the file claims is checked before any tensor byte is touched.
/// </summary>
internal static unsafe class SafetensorsHeader
{
    /// <summary>The reference implementation's limit; a larger header is a hostile or corrupt file.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public sealed record Parsed(IReadOnlyList<SafetensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart);

    /// <summary>Parses the header of the <paramref name="fileLength"/>-byte file mapped at <paramref name="file"/>.</summary>
    public static Parsed Parse(byte* file, long fileLength, string path)
    {
        if (fileLength < 8) throw Fail(path, $"file is too short ({fileLength} bytes) to hold a header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(file, 8));
        if (headerLength > MaxHeaderBytes)
            throw Fail(path, $"header length {headerLength} is larger than the {MaxHeaderBytes}-byte limit");
        if ((long)headerLength > fileLength - 8)
            throw Fail(path, $"header length {headerLength} runs past the end of the file ({fileLength} bytes)");
        if (headerLength < 2) throw Fail(path, "header is empty");
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        var headerBytes = new ReadOnlySpan<byte>(file + 8, (int)headerLength);
        // JsonDocument checks UTF-8 only when a string is read; check it all up front instead.
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes)) throw Fail(path, "safetensors header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(headerBytes.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"{path}: safetensors header is not valid JSON: {e.Message}", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Fail(path, "safetensors header is not a JSON object");
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name)) throw Fail(path, $"tensor '{property.Name}' appears twice in the header");
                if (property.Name == "__metadata__") ReadMetadata(property.Value, metadata, path);
                else entries.Add(ReadEntry(property.Name, property.Value, dataLength, path));
            }
            CheckCoverage(entries, dataLength, path);
            return new Parsed(entries, metadata, dataStart);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind != JsonValueKind.Object) throw Fail(path, "__metadata__ must be an object of strings");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String) throw Fail(path, $"__metadata__ value '{item.Name}' is not a string");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafetensorsEntry ReadEntry(string name, JsonElement value, long dataLength, string path)
    {
        if (value.ValueKind != JsonValueKind.Object) throw FailTensor(path, name, "entry is not an object");
        if (!value.TryGetProperty("dtype", out var dtypeJson) || dtypeJson.ValueKind != JsonValueKind.String)
            throw FailTensor(path, name, "missing 'dtype'");
        string dtypeName = dtypeJson.GetString()!;
        DType dtype = DTypes.FromSafetensorsName(dtypeName) ?? throw FailTensor(path, name, $"unsupported dtype '{dtypeName}'");

        if (!value.TryGetProperty("shape", out var shapeJson) || shapeJson.ValueKind != JsonValueKind.Array)
            throw FailTensor(path, name, "missing 'shape'");
        var shape = new long[shapeJson.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (var dim in shapeJson.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0)
                throw FailTensor(path, name, $"shape {shapeJson.GetRawText()} has a dimension that is not a non-negative integer");
            shape[i++] = d;
            if (d != 0 && elements > long.MaxValue / d) throw FailTensor(path, name, $"shape {shapeJson.GetRawText()} overflows");
            elements *= d;
        }

        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array
            || offsets.GetArrayLength() != 2
            || !offsets[0].TryGetInt64IfNumber(out long begin) || !offsets[1].TryGetInt64IfNumber(out long end))
            throw FailTensor(path, name, "'data_offsets' must be two integers [begin, end]");
        if (begin < 0 || end < begin || end > dataLength)
            throw FailTensor(path, name, $"data_offsets [{begin}, {end}] fall outside the data region of {dataLength} bytes");

        long? expected = DTypes.ByteCount(dtype, elements);
        if (expected != end - begin)
            throw FailTensor(path, name, $"shape [{string.Join(",", shape)}] of {dtypeName} needs {expected?.ToString() ?? "an impossible number of"} bytes but data_offsets span {end - begin}");
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static bool TryGetInt64IfNumber(this JsonElement e, out long value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out value);
    }

    /// <summary>Sorted by offset, each tensor must start where the previous ended and the last must end at the end of the file.</summary>
    private static void CheckCoverage(List<SafetensorsEntry> entries, long dataLength, string path)
    {
        var sorted = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long expected = 0;
        foreach (var e in sorted)
        {
            if (e.Begin < expected) throw FailTensor(path, e.Name, $"data_offsets [{e.Begin}, {e.End}] overlap the previous tensor (which ends at {expected})");
            if (e.Begin > expected) throw FailTensor(path, e.Name, $"data_offsets [{e.Begin}, {e.End}] leave a gap after byte {expected} of the data region");
            expected = e.End;
        }
        if (expected != dataLength)
            throw Fail(path, $"the tensors cover {expected} bytes but the data region holds {dataLength} (trailing bytes not owned by any tensor)");
    }

    private static ModelLoadException Fail(string path, string what) => new($"{path}: {what}.");

    private static ModelLoadException FailTensor(string path, string tensor, string what) => new($"{path}: tensor '{tensor}': {what}.");
}
