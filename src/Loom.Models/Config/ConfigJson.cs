using System.Text.Json;
using Loom.IO;

namespace Loom.Models.Config;

/// <summary>
/// Typed reads of optional fields from a config JSON object, each failing with a <see cref="ModelLoadException"/>
/// that names the field and the file. JSON null counts as absent, as transformers treats it.
/// </summary>
internal readonly struct ConfigJson(JsonElement root, string file)
{
    public JsonElement Root { get; } = root;
    public string File { get; } = file;

    /// <summary>Reads and parses a JSON file; unreadable, non-UTF-8 or malformed files become ModelLoadException.</summary>
    public static JsonDocument Parse(string path)
    {
        RegularFile.Require(path);
        try
        {
            byte[] bytes = System.IO.File.ReadAllBytes(path);
            // JsonDocument checks UTF-8 only when a string is read; reject bad files here, with the file named.
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new ModelLoadException($"{path} is not valid UTF-8 text.");
            return JsonDocument.Parse(bytes,
                new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"{path} is not valid JSON: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new ModelLoadException($"Cannot read {path}: {e.Message}", e);
        }
    }

    public bool TryGet(string name, out JsonElement value)
    {
        if (Root.ValueKind == JsonValueKind.Object && Root.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null)
            return true;
        value = default;
        return false;
    }

    public bool Has(string name) => TryGet(name, out _);

    public int? Int(string name)
    {
        if (!TryGet(name, out var v)) return null;
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (v.TryGetInt32(out int i)) return i;
            // Some configs write integers as 4096.0.
            if (v.TryGetDouble(out double d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue) return (int)d;
        }
        throw Bad(name, "an integer", v);
    }

    public int RequiredPositiveInt(string name)
    {
        int value = Int(name) ?? throw new ModelLoadException($"{File}: required field '{name}' is missing.");
        if (value <= 0) throw new ModelLoadException($"{File}: '{name}' must be positive, got {value}.");
        return value;
    }

    public double? Double(string name)
    {
        if (!TryGet(name, out var v)) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d)) return d;
        throw Bad(name, "a number", v);
    }

    public bool? Bool(string name)
    {
        if (!TryGet(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Bad(name, "true or false", v),
        };
    }

    public string? String(string name)
    {
        if (!TryGet(name, out var v)) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Bad(name, "a string", v);
    }

    /// <summary>An int or a list of ints (eos_token_id); absent gives an empty list.</summary>
    public IReadOnlyList<int> IntOrList(string name)
    {
        if (!TryGet(name, out var v)) return [];
        if (v.ValueKind == JsonValueKind.Number) return [Int(name)!.Value];
        if (v.ValueKind != JsonValueKind.Array) throw Bad(name, "an integer or a list of integers", v);
        var list = new List<int>();
        foreach (var item in v.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int id))
                throw Bad(name, "a list of integers", v);
            list.Add(id);
        }
        return list;
    }

    /// <summary>A nested object field as its own reader, or null when absent.</summary>
    public ConfigJson? Object(string name)
    {
        if (!TryGet(name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Object) throw Bad(name, "an object", v);
        return new ConfigJson(v, $"{File} ({name})");
    }

    private ModelLoadException Bad(string name, string expected, JsonElement v) =>
        new($"{File}: '{name}' must be {expected}, got {Truncate(v.GetRawText())}.");

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..60] + "...";
}
