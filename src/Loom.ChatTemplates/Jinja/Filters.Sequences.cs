using System.Globalization;

namespace Loom.ChatTemplates.Jinja;

// Filters over sequences and mappings: sorting, uniqueness, batching, map/select families, sums.
internal static partial class Filters
{
    private static List<object?> DictSort(object? value, FilterArgs a)
    {
        if (value is not PyDict dict) throw new JinjaError($"dictsort needs a mapping, got {Py.TypeName(value)}");
        bool caseSensitive = a.Flag(0, "case_sensitive");
        string by = Py.Str(a.Get(1, "by", "key"));
        int position = by switch { "key" => 0, "value" => 1, _ => throw new JinjaError("dictsort: 'by' must be 'key' or 'value'") };
        var pairs = Items(dict).Cast<object?[]>().ToList();
        object? Key(object?[] pair) => SortKey(pair[position], caseSensitive);
        var sorted = a.Flag(2, "reverse") ? pairs.OrderByDescending(Key, PyComparer.Instance).ToList() : pairs.OrderBy(Key, PyComparer.Instance).ToList();
        return sorted.Cast<object?>().ToList();
    }

    private static object? SortKey(object? value, bool caseSensitive) =>
        !caseSensitive && value is string s ? s.ToLowerInvariant() : value;

    private sealed class PyComparer : IComparer<object?>
    {
        public static readonly PyComparer Instance = new();
        public int Compare(object? x, object? y) => Py.Compare(x, y);
    }

    private static List<object?> Sort(object? value, FilterArgs a)
    {
        bool reverse = a.Flag(0, "reverse"), caseSensitive = a.Flag(1, "case_sensitive");
        object? attribute = a.Get(2, "attribute");
        var items = Py.ToList(value);
        object? Key(object? item) => SortKey(attribute == null ? item : AttributePath(item, attribute), caseSensitive);
        // Both orderings are stable, as Python's sorted(reverse=True) is.
        var sorted = reverse ? items.OrderByDescending(Key, PyComparer.Instance).ToList() : items.OrderBy(Key, PyComparer.Instance).ToList();
        return sorted;
    }

    private static List<object?> Unique(object? value, FilterArgs a)
    {
        bool caseSensitive = a.Flag(0, "case_sensitive");
        object? attribute = a.Get(1, "attribute");
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (object? item in Py.ToList(value))
        {
            object? key = SortKey(attribute == null ? item : AttributePath(item, attribute), caseSensitive);
            if (seen.Any(s => Py.Equal(s, key))) continue;
            seen.Add(key);
            result.Add(item);
        }
        return result;
    }

    private static List<object?> Batch(object? value, FilterArgs a)
    {
        long size = Py.ToLong(a.Required(0, "linecount"));
        if (size <= 0) throw new JinjaError("batch size must be positive");
        bool fill = a.Get(1, "fill_with") != null;
        object? filler = a.Get(1, "fill_with");
        var result = new List<object?>();
        List<object?>? current = null;
        foreach (object? item in Py.ToList(value))
        {
            current ??= [];
            current.Add(item);
            if (current.Count == size) { result.Add(current); current = null; }
        }
        if (current != null)
        {
            while (fill && current.Count < size) current.Add(filler);
            result.Add(current);
        }
        return result;
    }

    /// <summary><c>map(attribute='x', default=...)</c> or <c>map('filter', args...)</c>.</summary>
    private static List<object?> Map(Renderer renderer, object? value, FilterArgs a, IReadOnlyList<object?> positional)
    {
        var items = ItemsOrEmpty(value);
        object? attribute = a.Get(-1, "attribute");
        if (attribute != null)
        {
            object? fallback = a.Get(-1, "default", Undefined.Anonymous);
            return items.Select(item =>
            {
                object? v = AttributePath(item, attribute);
                return v is Undefined && fallback is not Undefined ? fallback : v;
            }).ToList();
        }
        string filter = positional.Count > 0 ? Py.Str(positional[0]) : throw new JinjaError("map needs a filter name or attribute=");
        var rest = positional.Skip(1).ToList();
        return items.Select(item => renderer.CallFilter(filter, item, rest)).ToList();
    }

    private static List<object?> SelectByTest(object? value, FilterArgs a, bool keep)
    {
        var items = ItemsOrEmpty(value);
        object? testName = a.Get(0, "test");
        var testArgs = a.From(1);
        return items.Where(item => (testName == null ? Py.IsTruthy(item) : Tests.Apply(Py.Str(testName), item, testArgs)) == keep).ToList();
    }

    private static List<object?> SelectByAttribute(object? value, FilterArgs a, bool keep)
    {
        var items = ItemsOrEmpty(value);
        object? attribute = a.Required(0, "attribute");
        object? testName = a.Get(1, "test");
        var testArgs = a.From(2);
        return items.Where(item =>
        {
            object? v = AttributePath(item, attribute);
            return (testName == null ? Py.IsTruthy(v) : Tests.Apply(Py.Str(testName), v, testArgs)) == keep;
        }).ToList();
    }

    /// <summary>Jinja's map/select family start with <c>if seq:</c>, so any falsy input (false, 0, none) yields nothing.</summary>
    private static IReadOnlyList<object?> ItemsOrEmpty(object? value) => Py.IsTruthy(value) ? Py.ToList(value) : [];

    /// <summary>Jinja's attribute argument: "a.b.0" walks nested attributes/items; integers index lists.</summary>
    private static object? AttributePath(object? item, object? attribute)
    {
        if (attribute is long index) return Members.GetItem(item, index);
        object? current = item;
        foreach (string part in Py.Str(attribute).Split('.'))
        {
            if (current is Undefined) return current;
            current = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long i) && current is IList<object?>
                ? Members.GetItem(current, i)
                : Members.GetItem(current, part);
        }
        return current;
    }

    private static object? Sum(object? value, FilterArgs a)
    {
        object? attribute = a.Get(0, "attribute");
        object? total = a.Get(1, "start", 0L);
        foreach (object? item in Py.ToList(value)) total = Py.Add(total, attribute == null ? item : AttributePath(item, attribute));
        return total;
    }
}
