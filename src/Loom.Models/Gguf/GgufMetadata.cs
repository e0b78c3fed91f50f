namespace Loom.Models.Gguf;

/// <summary>
/// GGUF key-value metadata. Values are boxed scalars (byte, sbyte, ushort, short, uint, int, float, bool, ulong, long,
/// double), strings, or typed arrays (string[], float[], int[], ...). Accessors convert between integer widths and
/// fail with a <see cref="ModelLoadException"/> naming the key and file.
/// </summary>
public sealed class GgufMetadata(IReadOnlyDictionary<string, object> values, string file)
{
    public IReadOnlyDictionary<string, object> Values { get; } = values;
    public string File { get; } = file;

    public bool Contains(string key) => Values.ContainsKey(key);

    public string? String(string key) => Values.TryGetValue(key, out var v)
        ? v as string ?? throw Bad(key, "a string", v)
        : null;

    public string RequiredString(string key) => String(key) ?? throw Missing(key);

    public long? Integer(string key)
    {
        if (!Values.TryGetValue(key, out var v)) return null;
        return v switch
        {
            byte b => b, sbyte sb => sb, ushort us => us, short s => s, uint ui => ui, int i => i, long l => l,
            ulong ul when ul <= long.MaxValue => (long)ul,
            _ => throw Bad(key, "an integer", v),
        };
    }

    public int? Int(string key)
    {
        long? v = Integer(key);
        if (v is { } x && (x < int.MinValue || x > int.MaxValue)) throw Bad(key, "a 32-bit integer", x);
        return (int?)v;
    }

    public int RequiredPositiveInt(string key)
    {
        int v = Int(key) ?? throw Missing(key);
        return v > 0 ? v : throw Bad(key, "positive", v);
    }

    public double? Double(string key)
    {
        if (!Values.TryGetValue(key, out var v)) return null;
        return v switch
        {
            float f => f, double d => d,
            byte or sbyte or ushort or short or uint or int or long or ulong => Convert.ToDouble(v),
            _ => throw Bad(key, "a number", v),
        };
    }

    public bool? Bool(string key) => Values.TryGetValue(key, out var v) ? v as bool? ?? throw Bad(key, "a boolean", v) : null;

    /// <summary>An array value of element type <typeparamref name="T"/> (e.g. string[], float[], int[]), or null if absent.</summary>
    public T[]? Array<T>(string key) => Values.TryGetValue(key, out var v)
        ? v as T[] ?? throw Bad(key, $"an array of {typeof(T).Name}", v)
        : null;

    /// <summary>An integer array of any integer element type, widened to int.</summary>
    public int[]? IntArray(string key)
    {
        if (!Values.TryGetValue(key, out var v)) return null;
        return v switch
        {
            int[] a => a,
            uint[] a => a.Select(x => x <= int.MaxValue ? (int)x : throw Bad(key, "an array of 32-bit integers", v)).ToArray(),
            byte[] a => a.Select(x => (int)x).ToArray(),
            sbyte[] a => a.Select(x => (int)x).ToArray(),
            short[] a => a.Select(x => (int)x).ToArray(),
            ushort[] a => a.Select(x => (int)x).ToArray(),
            long[] a => a.Select(x => x is >= int.MinValue and <= int.MaxValue ? (int)x : throw Bad(key, "an array of 32-bit integers", v)).ToArray(),
            _ => throw Bad(key, "an array of integers", v),
        };
    }

    private ModelLoadException Missing(string key) => new($"{File}: GGUF metadata key '{key}' is missing.");

    private ModelLoadException Bad(string key, string expected, object value) =>
        new($"{File}: GGUF metadata '{key}' must be {expected}, got {Describe(value)}.");

    private static string Describe(object value) => value switch
    {
        string s => $"\"{(s.Length > 40 ? s[..40] + "..." : s)}\"",
        System.Array a => $"an array of {a.Length} {a.GetType().GetElementType()!.Name}",
        _ => $"{value} ({value.GetType().Name})",
    };
}
