using System.Globalization;
using System.Text;

namespace Loom.ChatTemplates.Jinja;

/// <summary>Python methods templates call on values: str.strip/split/startswith/format..., dict.get/items..., list.append.</summary>
internal static class Methods
{
    public static Callable? TryBind(object? target, string name) => target switch
    {
        string s => BindString(s, name),
        PyDict d => BindDict(d, name),
        List<object?> l => BindList(l, name),
        object?[] t => BindTuple(t, name),
        _ => null,
    };

    private static Callable Bind(string name, CallableBody body) => new(name, body);

    private static object? Arg(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs, int index, string name, object? fallback = null) =>
        index < args.Count ? args[index] : kwargs.TryGetValue(name, out object? value) ? value : fallback;

    private static string? OptionalString(object? value, string what) => value switch
    {
        null or Undefined => null,
        string s => s,
        _ => throw new JinjaError($"{what} must be a string or None, not {Py.TypeName(value)}"),
    };

    private static string RequireString(object? value, string what) =>
        value as string ?? throw new JinjaError($"{what} must be a string, not {Py.TypeName(value)}");

    private static Callable? BindString(string s, string name) => name switch
    {
        "strip" => Bind("str.strip", (a, k) => PyStrip(s, OptionalString(Arg(a, k, 0, "chars"), "strip chars"), true, true)),
        "lstrip" => Bind("str.lstrip", (a, k) => PyStrip(s, OptionalString(Arg(a, k, 0, "chars"), "lstrip chars"), true, false)),
        "rstrip" => Bind("str.rstrip", (a, k) => PyStrip(s, OptionalString(Arg(a, k, 0, "chars"), "rstrip chars"), false, true)),
        "startswith" => Bind("str.startswith", (a, k) => AffixMatch(Arg(a, k, 0, "prefix"), p => s.StartsWith(p, StringComparison.Ordinal))),
        "endswith" => Bind("str.endswith", (a, k) => AffixMatch(Arg(a, k, 0, "suffix"), p => s.EndsWith(p, StringComparison.Ordinal))),
        "split" => Bind("str.split", (a, k) => Split(s, OptionalString(Arg(a, k, 0, "sep"), "separator"), (int)Py.ToLong(Arg(a, k, 1, "maxsplit", -1L)))),
        "rsplit" => Bind("str.rsplit", (a, k) => RSplit(s, OptionalString(Arg(a, k, 0, "sep"), "separator"), (int)Py.ToLong(Arg(a, k, 1, "maxsplit", -1L)))),
        "splitlines" => Bind("str.splitlines", (_, _) => s.Split('\n').Select(line => (object?)line.TrimEnd('\r')).SkipLast(s.EndsWith('\n') ? 1 : 0).ToList()),
        "upper" => Bind("str.upper", (_, _) => s.ToUpperInvariant()),
        "lower" => Bind("str.lower", (_, _) => s.ToLowerInvariant()),
        "title" => Bind("str.title", (_, _) => Title(s)),
        "capitalize" => Bind("str.capitalize", (_, _) => Capitalize(s)),
        "replace" => Bind("str.replace", (a, k) => Replace(s, RequireString(Arg(a, k, 0, "old"), "old"), RequireString(Arg(a, k, 1, "new"), "new"), Py.ToLong(Arg(a, k, 2, "count", -1L)))),
        "format" => Bind("str.format", (a, k) => Format(s, a, k)),
        "join" => Bind("str.join", (a, k) => string.Join(s, Py.ToList(Arg(a, k, 0, "iterable")).Select(x => x as string ?? throw new JinjaError($"sequence item: expected str instance, {Py.TypeName(x)} found")))),
        "find" => Bind("str.find", (a, k) => (long)s.IndexOf(RequireString(Arg(a, k, 0, "sub"), "sub"), StringComparison.Ordinal)),
        "rfind" => Bind("str.rfind", (a, k) => (long)s.LastIndexOf(RequireString(Arg(a, k, 0, "sub"), "sub"), StringComparison.Ordinal)),
        "count" => Bind("str.count", (a, k) => (long)CountOccurrences(s, RequireString(Arg(a, k, 0, "sub"), "sub"))),
        "isdigit" => Bind("str.isdigit", (_, _) => s.Length > 0 && s.All(char.IsDigit)),
        "isalpha" => Bind("str.isalpha", (_, _) => s.Length > 0 && s.All(char.IsLetter)),
        "isalnum" => Bind("str.isalnum", (_, _) => s.Length > 0 && s.All(char.IsLetterOrDigit)),
        "isspace" => Bind("str.isspace", (_, _) => s.Length > 0 && s.All(char.IsWhiteSpace)),
        "islower" => Bind("str.islower", (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsUpper)),
        "isupper" => Bind("str.isupper", (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsLower)),
        _ => null,
    };

    private static Callable? BindDict(PyDict d, string name) => name switch
    {
        "get" => Bind("dict.get", (a, k) =>
        {
            object? key = Arg(a, k, 0, "key");
            return key is not null and not Undefined && d.TryGetValue(key, out object? value) ? value : Arg(a, k, 1, "default");
        }),
        "items" => Bind("dict.items", (_, _) => d.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList()),
        "keys" => Bind("dict.keys", (_, _) => d.Keys.Cast<object?>().ToList()),
        "values" => Bind("dict.values", (_, _) => d.Values.ToList()),
        _ => null,
    };

    private static Callable? BindList(List<object?> list, string name) => name switch
    {
        "append" => Bind("list.append", (a, k) =>
        {
            if (list.Count >= Renderer.MaxLoopIterations) throw new JinjaError("list grew too large");
            list.Add(Arg(a, k, 0, "object"));
            return null;
        }),
        "index" => Bind("list.index", (a, k) => IndexOf(list, Arg(a, k, 0, "value"))),
        "count" => Bind("list.count", (a, k) => (long)list.Count(x => Py.Equal(x, Arg(a, k, 0, "value")))),
        _ => null,
    };

    private static Callable? BindTuple(object?[] tuple, string name) => name switch
    {
        "index" => Bind("tuple.index", (a, k) => IndexOf(tuple, Arg(a, k, 0, "value"))),
        "count" => Bind("tuple.count", (a, k) => (long)tuple.Count(x => Py.Equal(x, Arg(a, k, 0, "value")))),
        _ => null,
    };

    private static long IndexOf(IList<object?> list, object? value)
    {
        for (int i = 0; i < list.Count; i++)
            if (Py.Equal(list[i], value)) return i;
        throw new JinjaError($"{Py.Repr(value)} is not in list");
    }

    private static bool AffixMatch(object? affix, Func<string, bool> matches) => affix switch
    {
        string s => matches(s),
        object?[] options => options.Any(o => matches(RequireString(o, "prefix/suffix"))),
        _ => throw new JinjaError($"startswith/endswith argument must be str or a tuple of str, not {Py.TypeName(affix)}"),
    };

    /// <summary>Python str.strip: whitespace by default, otherwise any of <paramref name="chars"/>.</summary>
    public static string PyStrip(string s, string? chars, bool left, bool right)
    {
        int start = 0, end = s.Length;
        bool Strippable(char c) => chars == null ? char.IsWhiteSpace(c) : chars.Contains(c);
        if (left) while (start < end && Strippable(s[start])) start++;
        if (right) while (end > start && Strippable(s[end - 1])) end--;
        return s[start..end];
    }

    private static List<object?> Split(string s, string? sep, int maxSplit)
    {
        var parts = new List<object?>();
        if (sep == null)
        {
            // Whitespace split: runs of whitespace separate, leading/trailing whitespace ignored.
            int i = 0;
            while (true)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (maxSplit >= 0 && parts.Count == maxSplit) { parts.Add(s[i..].TrimEnd()); break; }
                int start = i;
                while (i < s.Length && !char.IsWhiteSpace(s[i])) i++;
                parts.Add(s[start..i]);
            }
            return parts;
        }
        if (sep.Length == 0) throw new JinjaError("empty separator");
        int from = 0;
        while (maxSplit < 0 || parts.Count < maxSplit)
        {
            int at = s.IndexOf(sep, from, StringComparison.Ordinal);
            if (at < 0) break;
            parts.Add(s[from..at]);
            from = at + sep.Length;
        }
        parts.Add(s[from..]);
        return parts;
    }

    private static List<object?> RSplit(string s, string? sep, int maxSplit)
    {
        if (maxSplit < 0 || sep == null) return Split(s, sep, maxSplit);
        if (sep.Length == 0) throw new JinjaError("empty separator");
        var parts = new List<object?>();
        int end = s.Length;
        while (parts.Count < maxSplit)
        {
            int at = end == 0 ? -1 : s.LastIndexOf(sep, end - 1, StringComparison.Ordinal);
            if (at < 0 || at + sep.Length > end) break;
            parts.Insert(0, s[(at + sep.Length)..end]);
            end = at;
        }
        parts.Insert(0, s[..end]);
        return parts;
    }

    private static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0) return old.Length == 0 ? InsertEverywhere(s, replacement) : s.Replace(old, replacement, StringComparison.Ordinal);
        var sb = new StringBuilder();
        int from = 0;
        for (long n = 0; n < count; n++)
        {
            int at = s.IndexOf(old, from, StringComparison.Ordinal);
            if (at < 0 || old.Length == 0) break;
            sb.Append(s, from, at - from).Append(replacement);
            from = at + old.Length;
        }
        return sb.Append(s, from, s.Length - from).ToString();
    }

    private static string InsertEverywhere(string s, string insert)
    {
        var sb = new StringBuilder(insert);
        foreach (char c in s) sb.Append(c).Append(insert);
        return sb.ToString();
    }

    private static int CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0) return s.Length + 1;
        int count = 0;
        for (int at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    /// <summary>Python str.title: the first letter of every run of letters upper-cased, the rest lower-cased.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    /// <summary>str.format with {}, {0} and {name} fields; format specs and conversions are not supported.</summary>
    private static string Format(string format, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c == '{' && i + 1 < format.Length && format[i + 1] == '{') { sb.Append('{'); i++; continue; }
            if (c == '}' && i + 1 < format.Length && format[i + 1] == '}') { sb.Append('}'); i++; continue; }
            if (c != '{') { sb.Append(c); continue; }
            int close = format.IndexOf('}', i);
            if (close < 0) throw new JinjaError("str.format: single '{' encountered in format string");
            string field = format[(i + 1)..close];
            if (field.Contains(':') || field.Contains('!')) throw new JinjaError("str.format: format specs are not supported");
            object? value = field.Length == 0 ? FormatArg(args, auto++)
                : int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out int index) ? FormatArg(args, index)
                : kwargs.TryGetValue(field, out object? named) ? named
                : throw new JinjaError($"str.format: missing argument '{field}'");
            sb.Append(Py.Str(value));
            i = close;
        }
        return sb.ToString();
    }

    private static object? FormatArg(IReadOnlyList<object?> args, int index) =>
        index < args.Count ? args[index] : throw new JinjaError($"str.format: replacement index {index} out of range");
}
