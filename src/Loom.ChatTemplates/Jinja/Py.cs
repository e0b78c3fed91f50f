using System.Globalization;
using System.Text;

namespace Loom.ChatTemplates.Jinja;

/// <summary>Python semantics for the value model: truthiness, str()/repr(), equality, ordering, arithmetic, iteration.</summary>
internal static partial class Py
{
    /// <summary>Longest string any single operation may build (string repetition, joins): a guard against runaway templates.</summary>
    public const int MaxStringLength = 16 * 1024 * 1024;

    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        object?[] => "tuple",
        List<object?> => "list",
        PyDict => "dict",
        Namespace => "Namespace",
        LoopContext => "LoopContext",
        _ => "function",
    };

    public static bool IsTruthy(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        IList<object?> list => list.Count > 0,
        PyDict dict => dict.Count > 0,
        _ => true,
    };

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static bool IsSequence(object? value) => value is IList<object?> or string;

    // ---- str() and repr() ----

    public static string Str(object? value) => value switch
    {
        string s => s,
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatFloat(d),
        Namespace ns => "<Namespace " + ReprMapping(ns.Attributes.Select(p => new KeyValuePair<object, object?>(p.Key, p.Value))) + ">",
        _ => Repr(value),
    };

    public static string Repr(object? value) => value switch
    {
        string s => ReprString(s),
        object?[] tuple => tuple.Length == 1 ? "(" + Repr(tuple[0]) + ",)" : "(" + string.Join(", ", tuple.Select(Repr)) + ")",
        List<object?> list => "[" + string.Join(", ", list.Select(Repr)) + "]",
        PyDict dict => ReprMapping(dict),
        Callable c => $"<built-in function {c.Name}>",
        LoopContext => "<LoopContext>",
        Undefined => "Undefined",
        _ when value is null or bool or long or double or Namespace => Str(value),
        _ => value.ToString() ?? "",
    };

    private static string ReprMapping(IEnumerable<KeyValuePair<object, object?>> pairs) =>
        "{" + string.Join(", ", pairs.Select(p => Repr(p.Key) + ": " + Repr(p.Value))) + "}";

    /// <summary>Python's repr of a str: single quotes unless the text holds ' and no ".</summary>
    public static string ReprString(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder(s.Length + 2).Append(quote);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append(quote).ToString();
    }

    /// <summary>Python's repr of a float: shortest round-trip digits; positional for exponents -4..15, else d.ddde+XX.</summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";

        // Split .NET's shortest round-trip text into significant digits and the position of the decimal point.
        string text = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int ePos = text.IndexOf('E');
        string mantissa = ePos >= 0 ? text[..ePos] : text;
        int exponent = ePos >= 0 ? int.Parse(text[(ePos + 1)..], CultureInfo.InvariantCulture) : 0;
        int dot = mantissa.IndexOf('.');
        string digits = dot >= 0 ? mantissa.Remove(dot, 1) : mantissa;
        int point = (dot >= 0 ? dot : mantissa.Length) + exponent;
        int leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits[leadingZeros..].TrimEnd('0');
        point -= leadingZeros;
        if (digits.Length == 0) digits = "0";

        int scientific = point - 1;
        var sb = new StringBuilder(d < 0 ? "-" : "");
        if (scientific < -4 || scientific >= 16)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append(scientific < 0 ? "e-" : "e+").Append(Math.Abs(scientific).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (point <= 0)
        {
            sb.Append("0.").Append('0', -point).Append(digits);
        }
        else if (point >= digits.Length)
        {
            sb.Append(digits).Append('0', point - digits.Length).Append(".0");
        }
        else
        {
            sb.Append(digits, 0, point).Append('.').Append(digits, point, digits.Length - point);
        }
        return sb.ToString();
    }

    // ---- equality and ordering ----

    public static bool Equal(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (a is null || b is null) return a is null && b is null;
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a) == ToDouble(b);
            return ToLong(a) == ToLong(b);
        }
        switch (a)
        {
            case string sa: return b is string sb && sa == sb;
            case IList<object?> la when b is IList<object?> lb && (a is object?[]) == (b is object?[]):
                if (la.Count != lb.Count) return false;
                for (int i = 0; i < la.Count; i++)
                    if (!Equal(la[i], lb[i])) return false;
                return true;
            case PyDict da when b is PyDict db:
                if (da.Count != db.Count) return false;
                foreach (var (key, value) in da)
                    if (!db.TryGetValue(key, out object? other) || !Equal(value, other)) return false;
                return true;
            default:
                return ReferenceEquals(a, b);
        }
    }

    public static int Compare(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a).CompareTo(ToDouble(b));
            return ToLong(a).CompareTo(ToLong(b));
        }
        if (a is string sa && b is string sb) return string.CompareOrdinal(sa, sb) switch { < 0 => -1, > 0 => 1, _ => 0 };
        if (a is IList<object?> la && b is IList<object?> lb)
        {
            for (int i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                if (Equal(la[i], lb[i])) continue;
                return Compare(la[i], lb[i]);
            }
            return la.Count.CompareTo(lb.Count);
        }
        throw new JinjaError($"'<' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static bool Contains(object? container, object? item) => container switch
    {
        string s when item is string sub => s.Contains(sub, StringComparison.Ordinal),
        string => throw new JinjaError($"'in <string>' requires string as left operand, not {TypeName(item)}"),
        IList<object?> list => list.Any(x => Equal(x, item)),
        PyDict dict => item != null && item is not Undefined && dict.ContainsKey(item),
        Namespace ns => item is string key && ns.Attributes.ContainsKey(key),
        Undefined => false,
        _ => throw new JinjaError($"argument of type '{TypeName(container)}' is not iterable"),
    };

    // ---- iteration ----

    public static IReadOnlyList<object?> ToList(object? value) => value switch
    {
        IList<object?> list => list as IReadOnlyList<object?> ?? list.ToList(),
        PyDict dict => dict.Keys.ToList(),
        string s => s.EnumerateRunes().Select(r => (object?)r.ToString()).ToList(),
        Undefined => [],
        Namespace ns => ns.Attributes.Keys.Cast<object?>().ToList(),
        _ => throw new JinjaError($"'{TypeName(value)}' object is not iterable"),
    };

    public static long Length(object? value) => value switch
    {
        string s => s.EnumerateRunes().Count(),
        IList<object?> list => list.Count,
        PyDict dict => dict.Count,
        Undefined => 0,
        Namespace ns => ns.Attributes.Count,
        _ => throw new JinjaError($"object of type '{TypeName(value)}' has no len()"),
    };
}
