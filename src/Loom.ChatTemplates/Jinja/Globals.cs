using System.Globalization;
using System.Text;

namespace Loom.ChatTemplates.Jinja;

/// <summary>Global functions: Jinja's range/dict/namespace and transformers' raise_exception/strftime_now.</summary>
internal static class Globals
{
    private const long MaxRangeLength = Renderer.MaxLoopIterations;

    public static Scope Create(TimeProvider time)
    {
        var scope = new Scope(null);
        scope.Set("raise_exception", new Callable("raise_exception", (args, _) =>
            throw new ChatTemplateException(args.Count > 0 ? Py.Str(args[0]) : "raise_exception called")));
        scope.Set("strftime_now", new Callable("strftime_now", (args, _) =>
            StrFTime(time.GetLocalNow().DateTime, args.Count > 0 ? Py.Str(args[0]) : throw new JinjaError("strftime_now needs a format"))));
        scope.Set("namespace", new Callable("namespace", MakeNamespace));
        scope.Set("range", new Callable("range", Range));
        scope.Set("dict", new Callable("dict", (args, kwargs) =>
        {
            var dict = new PyDict();
            if (args.Count > 0 && args[0] is PyDict source) foreach (var (k, v) in source) dict[k] = v;
            foreach (var (k, v) in kwargs) dict[k] = v;
            return dict;
        }));
        return scope;
    }

    private static object? MakeNamespace(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        var ns = new Namespace();
        if (args.Count > 0 && args[0] is PyDict initial)
            foreach (var (key, value) in initial) ns.Attributes[Py.Str(key)] = value;
        foreach (var (key, value) in kwargs) ns.Attributes[key] = value;
        return ns;
    }

    private static object? Range(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        long start = 0, stop, step = 1;
        switch (args.Count)
        {
            case 1: stop = Py.ToLong(args[0]); break;
            case 2: start = Py.ToLong(args[0]); stop = Py.ToLong(args[1]); break;
            case 3: start = Py.ToLong(args[0]); stop = Py.ToLong(args[1]); step = Py.ToLong(args[2]); break;
            default: throw new JinjaError("range expects 1 to 3 integer arguments");
        }
        if (step == 0) throw new JinjaError("range() arg 3 must not be zero");
        var result = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            if (result.Count >= MaxRangeLength) throw new JinjaError($"range() longer than {MaxRangeLength} items");
            result.Add(i);
        }
        return result;
    }

    private static readonly string[] DayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    private static readonly string[] MonthNames =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    /// <summary>Python's datetime.strftime in the C locale for the common directives.</summary>
    public static string StrFTime(DateTime t, string format)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            char directive = format[++i];
            sb.Append(directive switch
            {
                'd' => t.Day.ToString("00", inv),
                'm' => t.Month.ToString("00", inv),
                'Y' => t.Year.ToString("0000", inv),
                'y' => (t.Year % 100).ToString("00", inv),
                'H' => t.Hour.ToString("00", inv),
                'I' => ((t.Hour + 11) % 12 + 1).ToString("00", inv),
                'M' => t.Minute.ToString("00", inv),
                'S' => t.Second.ToString("00", inv),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", inv),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'b' or 'h' => MonthNames[t.Month - 1][..3],
                'B' => MonthNames[t.Month - 1],
                'a' => DayNames[(int)t.DayOfWeek][..3],
                'A' => DayNames[(int)t.DayOfWeek],
                'w' => ((int)t.DayOfWeek).ToString(inv),
                'j' => t.DayOfYear.ToString("000", inv),
                'e' => t.Day.ToString(inv).PadLeft(2),
                '-' when i + 1 < format.Length => NoPad(t, format[++i]),
                '%' => "%",
                _ => "%" + directive,
            });
        }
        return sb.ToString();
    }

    /// <summary>glibc's %-d style (no zero padding), which Llama 3.2-style templates use.</summary>
    private static string NoPad(DateTime t, char directive) => directive switch
    {
        'd' => t.Day.ToString(CultureInfo.InvariantCulture),
        'm' => t.Month.ToString(CultureInfo.InvariantCulture),
        'H' => t.Hour.ToString(CultureInfo.InvariantCulture),
        'I' => ((t.Hour + 11) % 12 + 1).ToString(CultureInfo.InvariantCulture),
        'M' => t.Minute.ToString(CultureInfo.InvariantCulture),
        'S' => t.Second.ToString(CultureInfo.InvariantCulture),
        'j' => t.DayOfYear.ToString(CultureInfo.InvariantCulture),
        _ => "%-" + directive,
    };
}
