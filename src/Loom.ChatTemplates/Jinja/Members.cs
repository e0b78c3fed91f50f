namespace Loom.ChatTemplates.Jinja;

/// <summary>Attribute access, subscripts and slices with Jinja's lookup rules (attribute first for <c>.x</c>, item first for <c>[x]</c>).</summary>
internal static class Members
{
    public static object? GetAttribute(object? target, string name)
    {
        switch (target)
        {
            case Undefined u:
                throw new JinjaError(u.Description);
            case PyDict dict:
                return (object?)Methods.TryBind(dict, name) ?? (dict.TryGetValue(name, out object? value) ? value : Missing(target, name));
            case Namespace ns:
                return ns.Attributes.TryGetValue(name, out object? attribute) ? attribute : Missing(target, name);
            case LoopContext loop:
                return loop.GetAttribute(name);
            default:
                return (object?)Methods.TryBind(target, name) ?? Missing(target, name);
        }
    }

    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case Undefined u:
                throw new JinjaError(u.Description);
            case PyDict dict:
                if (key is not null and not Undefined && dict.TryGetValue(key, out object? value)) return value;
                return key is string methodName ? (object?)Methods.TryBind(dict, methodName) ?? Missing(target, key) : Missing(target, key);
            case IList<object?> list when key is long or bool:
            {
                long index = Py.ToLong(key);
                if (index < 0) index += list.Count;
                return index >= 0 && index < list.Count ? list[(int)index] : new Undefined($"{Py.TypeName(target)} index {Py.ToLong(key)} out of range");
            }
            case string s when key is long or bool:
            {
                var text = PyString.Of(s);
                long index = Py.ToLong(key);
                if (index < 0) index += text.Length;
                return index >= 0 && index < text.Length ? text.Substring((int)index, 1) : new Undefined($"string index {Py.ToLong(key)} out of range");
            }
            default:
                return key is string name ? GetAttribute(target, name) : Missing(target, key);
        }
    }

    private static Undefined Missing(object? target, object? key) =>
        new($"'{Py.TypeName(target)} object' has no attribute {Py.Repr(key)}");

    /// <summary>Python slicing (negative indices, steps, clamping) of lists, tuples and strings.</summary>
    public static object? Slice(object? target, long? start, long? stop, long? step)
    {
        long stride = step ?? 1;
        if (stride == 0) throw new JinjaError("slice step cannot be zero");
        switch (target)
        {
            case string s:
            {
                var text = PyString.Of(s);
                var indices = SliceIndices(text.Length, start, stop, stride);
                if (stride == 1) return text.Substring(indices.Start, Math.Max(0, indices.Stop - indices.Start));
                var sb = new System.Text.StringBuilder();
                foreach (int i in Enumerate(indices, stride)) sb.Append(text.Substring(i, 1));
                return sb.ToString();
            }
            case IList<object?> list:
            {
                var indices = SliceIndices(list.Count, start, stop, stride);
                var result = new List<object?>();
                foreach (int i in Enumerate(indices, stride)) result.Add(list[i]);
                return target is object?[] ? result.ToArray() : result;
            }
            case Undefined u:
                throw new JinjaError(u.Description);
            default:
                // Jinja compiles slices to plain Python subscripts (bypassing its Undefined-on-failure getitem), so this raises.
                throw new JinjaError($"'{Py.TypeName(target)}' object is not subscriptable");
        }
    }

    private static (int Start, int Stop) SliceIndices(int length, long? start, long? stop, long step)
    {
        long Clamp(long? value, long fallback, long low, long high)
        {
            if (value == null) return fallback;
            long v = value.Value < 0 ? value.Value + length : value.Value;
            return Math.Clamp(v, low, high);
        }
        return step > 0
            ? ((int)Clamp(start, 0, 0, length), (int)Clamp(stop, length, 0, length))
            : ((int)Clamp(start, length - 1, -1, length - 1), (int)Clamp(stop, -1, -1, length - 1));
    }

    private static IEnumerable<int> Enumerate((int Start, int Stop) indices, long step)
    {
        if (step > 0)
            for (long i = indices.Start; i < indices.Stop; i += step) yield return (int)i;
        else
            for (long i = indices.Start; i > indices.Stop; i += step) yield return (int)i;
    }
}

/// <summary>A string indexed by code point, as Python indexes str (only materialised when surrogate pairs are present).</summary>
internal readonly struct PyString
{
    private readonly string _text;
    private readonly int[]? _offsets; // UTF-16 offset of each code point, plus the end; null when text has no surrogates

    private PyString(string text, int[]? offsets)
    {
        _text = text;
        _offsets = offsets;
    }

    public static PyString Of(string text)
    {
        if (!text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF')) return new PyString(text, null);
        var offsets = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length; i += char.IsSurrogatePair(text, i) ? 2 : 1) offsets.Add(i);
        offsets.Add(text.Length);
        return new PyString(text, offsets.ToArray());
    }

    public int Length => _offsets == null ? _text.Length : _offsets.Length - 1;

    public string Substring(int start, int count) =>
        _offsets == null ? _text.Substring(start, count) : _text[_offsets[start].._offsets[start + count]];
}
