using System.Text.Json;

namespace Loom.Tokenizers;

/// <summary>The error raised for a tokenizer file that is missing or does not describe a tokenizer we can run.</summary>
public sealed class TokenizerFormatException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Typed reads from tokenizer.json elements; every failure names the source file and the JSON path.</summary>
internal readonly struct TokenizerJson(JsonElement element, string source, string path)
{
    public JsonElement Element => element;
    public string Source => source;
    public string Path => path;
    public bool IsNull => element.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined;

    public TokenizerFormatException Error(string what) => new($"{source}: {path}: {what}");

    public TokenizerJson Child(string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var child)
            ? new TokenizerJson(child, source, path + "." + name)
            : new TokenizerJson(default, source, path + "." + name);

    public TokenizerJson Required(string name)
    {
        var child = Child(name);
        if (child.IsNull) throw Error($"missing required field \"{name}\"");
        return child;
    }

    public string Type => Required("type").String();

    public string String()
    {
        if (element.ValueKind != JsonValueKind.String) throw Error($"expected a string, found {element.ValueKind}");
        return element.GetString()!;
    }

    public string? StringOrNull() => IsNull ? null : String();

    public bool Bool(bool fallback) => element.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null or JsonValueKind.Undefined => fallback,
        _ => throw Error($"expected true or false, found {element.ValueKind}"),
    };

    public int Int(int fallback)
    {
        if (IsNull) return fallback;
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt32(out int value))
            throw Error($"expected an integer, found {element.ValueKind}");
        return value;
    }

    public IEnumerable<TokenizerJson> Items()
    {
        if (element.ValueKind != JsonValueKind.Array) throw Error($"expected an array, found {element.ValueKind}");
        int i = 0;
        foreach (var item in element.EnumerateArray()) yield return new TokenizerJson(item, source, $"{path}[{i++}]");
    }

    public IEnumerable<(string Name, TokenizerJson Value)> Properties()
    {
        if (element.ValueKind != JsonValueKind.Object) throw Error($"expected an object, found {element.ValueKind}");
        foreach (var p in element.EnumerateObject()) yield return (p.Name, new TokenizerJson(p.Value, source, path + "." + p.Name));
    }
}
