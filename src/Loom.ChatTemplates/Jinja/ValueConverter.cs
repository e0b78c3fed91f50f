using System.Collections;
using System.Text.Json;

namespace Loom.ChatTemplates.Jinja;

/// <summary>Converts caller values (strings, numbers, bools, lists, dictionaries, JsonElements, ChatMessages) to the value model.</summary>
internal static class ValueConverter
{
    private const int MaxDepth = 128;

    public static object? Convert(object? value, string path, int depth = 0)
    {
        if (depth > MaxDepth) throw new ChatTemplateException($"Chat template input '{path}' nests deeper than {MaxDepth} levels");
        switch (value)
        {
            case null: return null;
            case string or bool or long or double: return value;
            case int or short or sbyte or byte or ushort or uint: return System.Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
            case ulong u: return u <= long.MaxValue ? (long)u : (double)u;
            case float f: return (double)f;
            case decimal m: return decimal.IsInteger(m) && Math.Abs(m) < long.MaxValue ? (long)m : (double)m;
            case char c: return c.ToString();
            case Enum e: return e.ToString();
            case JsonElement element: return FromJson(element, path, depth);
            case JsonDocument document: return FromJson(document.RootElement, path, depth);
            case ChatMessage message: return FromMessage(message, path, depth);
            case IDictionary<string, object?> dict: return FromPairs(dict, path, depth);
            case IReadOnlyDictionary<string, object?> dict: return FromPairs(dict, path, depth);
            case IDictionary dict:
            {
                var result = new PyDict(dict.Count);
                foreach (DictionaryEntry entry in dict)
                {
                    string key = entry.Key.ToString() ?? "";
                    result[key] = Convert(entry.Value, $"{path}.{key}", depth + 1);
                }
                return result;
            }
            case IEnumerable items:
            {
                var list = new List<object?>();
                int i = 0;
                foreach (object? item in items) list.Add(Convert(item, $"{path}[{i++}]", depth + 1));
                return list;
            }
            default:
                throw new ChatTemplateException(
                    $"Chat template input '{path}' has unsupported type {value.GetType().Name}; use strings, numbers, bools, lists, dictionaries or JsonElement");
        }
    }

    private static PyDict FromPairs(IEnumerable<KeyValuePair<string, object?>> pairs, string path, int depth)
    {
        var result = new PyDict();
        foreach (var (key, item) in pairs) result[key] = Convert(item, $"{path}.{key}", depth + 1);
        return result;
    }

    /// <summary>A message is the dict transformers would see: role, content, then the extra fields in their order.</summary>
    public static PyDict FromMessage(ChatMessage message, string path, int depth = 0)
    {
        if (message is null) throw new ChatTemplateException($"Chat template input '{path}' is null");
        var result = new PyDict(2 + (message.Extra?.Count ?? 0))
        {
            ["role"] = message.Role ?? throw new ChatTemplateException($"Chat template input '{path}.role' is null"),
            ["content"] = message.Content,
        };
        if (message.Extra != null)
            foreach (var (key, item) in message.Extra) result[key] = Convert(item, $"{path}.{key}", depth + 1);
        return result;
    }

    private static object? FromJson(JsonElement element, string path, int depth)
    {
        if (depth > MaxDepth) throw new ChatTemplateException($"Chat template input '{path}' nests deeper than {MaxDepth} levels");
        switch (element.ValueKind)
        {
            case JsonValueKind.String: return element.GetString();
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.Null:
            case JsonValueKind.Undefined: return null;
            case JsonValueKind.Number:
                return element.TryGetInt64(out long l) && !element.GetRawText().Contains('.') ? (object)l : element.GetDouble();
            case JsonValueKind.Array:
            {
                var list = new List<object?>(element.GetArrayLength());
                int i = 0;
                foreach (JsonElement item in element.EnumerateArray()) list.Add(FromJson(item, $"{path}[{i++}]", depth + 1));
                return list;
            }
            default:
            {
                var dict = new PyDict();
                foreach (JsonProperty property in element.EnumerateObject())
                    dict[property.Name] = FromJson(property.Value, $"{path}.{property.Name}", depth + 1);
                return dict;
            }
        }
    }
}
