using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Loom.ChatTemplates.Jinja;

/// <summary>Jinja's built-in filters as chat templates use them, plus transformers' <c>tojson</c>.</summary>
internal static partial class Filters
{
    /// <summary>Positional-or-keyword filter arguments (after the piped value).</summary>
    private readonly struct FilterArgs(string filter, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        /// <summary>Argument by position, else by name; a negative index means keyword-only.</summary>
        public object? Get(int index, string name, object? fallback = null) =>
            index >= 0 && index < args.Count ? args[index] : kwargs.TryGetValue(name, out object? value) ? value : fallback;

        public object? Required(int index, string name) =>
            index >= 0 && index < args.Count ? args[index] : kwargs.TryGetValue(name, out object? value) ? value
            : throw new JinjaError($"filter '{filter}' needs argument '{name}'");

        public bool Flag(int index, string name) => Py.IsTruthy(Get(index, name, false));

        public IReadOnlyList<object?> From(int index) => args.Skip(index).ToList();
    }

    public static object? Apply(Renderer renderer, string name, object? value, IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> kwargs)
    {
        var a = new FilterArgs(name, positional, kwargs);
        return name switch
        {
            "safe" => value,
            "string" => Py.Str(value),
            "trim" => Methods.PyStrip(Py.Str(value), a.Get(0, "chars") as string, true, true),
            "upper" => Py.Str(value).ToUpperInvariant(),
            "lower" => Py.Str(value).ToLowerInvariant(),
            "capitalize" => Methods.Capitalize(Py.Str(value)),
            "title" => TitleWords(Py.Str(value)),
            "replace" => Replace(value, a),
            "length" or "count" => Py.Length(value),
            "wordcount" => (long)WordRegex().Count(Py.Str(value)),
            "default" or "d" => value is Undefined || (a.Flag(1, "boolean") && !Py.IsTruthy(value)) ? a.Get(0, "default_value", "") : value,
            "tojson" => ToJson(value, a),
            "e" or "escape" => HtmlEscape(Py.Str(value)),
            "join" => Join(value, a),
            "first" => First(value),
            "last" => Last(value),
            "list" => Py.ToList(value).ToList(),
            // int()/float() of Undefined raise in Jinja rather than falling back to the default.
            "int" => value is Undefined u ? throw new JinjaError(u.Description) : ToInt(value, a),
            "float" => value is Undefined u ? throw new JinjaError(u.Description) : ToFloat(value, a),
            "abs" => value switch { long l => (object)Math.Abs(l), double d => Math.Abs(d), bool b => b ? 1L : 0L, _ => throw new JinjaError($"bad operand type for abs(): '{Py.TypeName(value)}'") },
            "round" => Round(value, a),
            "items" => Items(value),
            "dictsort" => DictSort(value, a),
            "reverse" => value is string s ? new string(s.EnumerateRunes().Reverse().SelectMany(r => r.ToString()).ToArray()) : Py.ToList(value).Reverse().ToList(),
            "sort" => Sort(value, a),
            "unique" => Unique(value, a),
            "batch" => Batch(value, a),
            "map" => Map(renderer, value, a, positional),
            "select" => SelectByTest(value, a, keep: true),
            "reject" => SelectByTest(value, a, keep: false),
            "selectattr" => SelectByAttribute(value, a, keep: true),
            "rejectattr" => SelectByAttribute(value, a, keep: false),
            "attr" => Attr(value, Py.Str(a.Required(0, "name"))),
            "sum" => Sum(value, a),
            "min" => Py.ToList(value).Aggregate((x, y) => Py.Compare(x, y) <= 0 ? x : y),
            "max" => Py.ToList(value).Aggregate((x, y) => Py.Compare(x, y) >= 0 ? x : y),
            "indent" => Indent(Py.Str(value), a),
            "center" => Center(Py.Str(value), (int)Py.ToLong(a.Get(0, "width", 80L))),
            "format" => Py.Modulo(Py.Str(value), positional.Count == 1 ? positional[0] : positional.ToArray()),
            _ => throw new JinjaError($"no filter named '{name}'"),
        };
    }

    [GeneratedRegex(@"\w+")]
    private static partial Regex WordRegex();

    [GeneratedRegex(@"([-\s({\[<]+)")]
    private static partial Regex WordBeginningRegex();

    /// <summary>Jinja's title filter: words begin after whitespace, '-', and opening brackets.</summary>
    private static string TitleWords(string s) =>
        string.Concat(WordBeginningRegex().Split(s).Where(item => item.Length > 0)
            .Select(item => char.ToUpperInvariant(item[0]) + item[1..].ToLowerInvariant()));

    /// <summary>Jinja's attr filter is Python getattr only: a dict's keys are not attributes.</summary>
    private static object? Attr(object? value, string name) =>
        value is PyDict dict ? (object?)Methods.TryBind(dict, name) ?? new Undefined($"'dict object' has no attribute '{name}'")
        : Members.GetAttribute(value, name);

    private static string Replace(object? value, FilterArgs a)
    {
        string s = Py.Str(value), old = Py.Str(a.Required(0, "old")), replacement = Py.Str(a.Required(1, "new"));
        object? count = a.Get(2, "count");
        if (count is null) return old.Length == 0 ? s : s.Replace(old, replacement, StringComparison.Ordinal);
        return (string)Methods.TryBind(s, "replace")!.Invoke([old, replacement, count], new Dictionary<string, object?>())!;
    }

    private static string ToJson(object? value, FilterArgs a)
    {
        string? indent = a.Get(0, "indent") switch
        {
            null => null,
            long n => new string(' ', (int)Math.Clamp(n, 0, 64)),
            string s => s,
            var other => throw new JinjaError($"tojson indent must be an int or string, not {Py.TypeName(other)}"),
        };
        string? itemSeparator = null, keySeparator = null;
        if (a.Get(-1, "separators") is IList<object?> { Count: 2 } separators)
        {
            itemSeparator = Py.Str(separators[0]);
            keySeparator = Py.Str(separators[1]);
        }
        return JsonText.Serialize(value, indent, itemSeparator, keySeparator,
            sortKeys: Py.IsTruthy(a.Get(-1, "sort_keys", false)), ensureAscii: Py.IsTruthy(a.Get(-1, "ensure_ascii", false)));
    }

    private static string HtmlEscape(string s) =>
        s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");

    private static string Join(object? value, FilterArgs a)
    {
        string separator = Py.Str(a.Get(0, "d", ""));
        object? attribute = a.Get(1, "attribute");
        var items = Py.ToList(value).Select(item => attribute == null ? item : AttributePath(item, attribute));
        var sb = new StringBuilder();
        bool first = true;
        foreach (object? item in items)
        {
            if (!first) sb.Append(separator);
            first = false;
            sb.Append(Py.Str(item));
            if (sb.Length > Py.MaxStringLength) throw new JinjaError($"join result would exceed {Py.MaxStringLength} characters");
        }
        return sb.ToString();
    }

    private static object? First(object? value)
    {
        var items = Py.ToList(value);
        return items.Count > 0 ? items[0] : new Undefined("No first item, sequence was empty.");
    }

    private static object? Last(object? value)
    {
        var items = Py.ToList(value);
        return items.Count > 0 ? items[^1] : new Undefined("No last item, sequence was empty.");
    }

    private static object? ToInt(object? value, FilterArgs a)
    {
        object? fallback = a.Get(0, "default", 0L);
        switch (value)
        {
            case long or bool: return Py.ToLong(value);
            case double d: return double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            case string s:
                s = s.Trim().Replace("_", "");
                if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
                if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) && double.IsFinite(parsed)) return (long)Math.Truncate(parsed);
                return fallback;
            default: return fallback;
        }
    }

    private static object? ToFloat(object? value, FilterArgs a) => value switch
    {
        long or bool or double => Py.ToDouble(value),
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
        _ => a.Get(0, "default", 0.0),
    };

    private static object? Round(object? value, FilterArgs a)
    {
        double d = Py.ToDouble(value);
        int precision = (int)Py.ToLong(a.Get(0, "precision", 0L));
        string method = Py.Str(a.Get(1, "method", "common"));
        double scale = Math.Pow(10, precision);
        return method switch
        {
            "common" when value is long or bool => (object)Py.ToLong(value), // Python: round(int, n) stays an int
            "common" => Math.Round(d, Math.Clamp(precision, 0, 15), MidpointRounding.ToEven),
            "floor" => Math.Floor(d * scale) / scale,
            "ceil" => Math.Ceiling(d * scale) / scale,
            _ => throw new JinjaError("round method must be 'common', 'ceil' or 'floor'"),
        };
    }

    private static List<object?> Items(object? value) => value switch
    {
        PyDict dict => dict.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList(),
        Undefined => [],
        _ => throw new JinjaError($"items filter needs a mapping, got {Py.TypeName(value)}"),
    };

    private static string Indent(string s, FilterArgs a)
    {
        object? width = a.Get(0, "width", 4L);
        string pad = width is string w ? w : new string(' ', (int)Math.Clamp(Py.ToLong(width), 0, 256));
        bool first = a.Flag(1, "first"), blank = a.Flag(2, "blank");
        var lines = s.Split('\n');
        var sb = new StringBuilder();
        for (int i = 0; i < lines.Length; i++)
        {
            if (i > 0) sb.Append('\n');
            bool indent = (i > 0 || first) && (blank || lines[i].Trim().Length > 0);
            if (indent) sb.Append(pad);
            sb.Append(lines[i]);
        }
        return sb.ToString();
    }

    private static string Center(string s, int width)
    {
        if (s.Length >= width) return s;
        int total = width - s.Length;
        int left = total / 2 + (total & width & 1);
        return new string(' ', left) + s + new string(' ', total - left);
    }
}
