using System.Globalization;
using System.Text;

namespace Loom.Models.ChatTemplates.Jinja;

/// <summary>Python semantics for the value model: truthiness, str()/repr(), equality, ordering, arithmetic, iteration.</summary>
internal static class Py
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

    // ---- numbers ----

    public static long ToLong(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => throw new JinjaError($"expected an integer, got {TypeName(value)}"),
    };

    public static double ToDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new JinjaError($"expected a number, got {TypeName(value)}"),
    };

    public static object? Add(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
            return a is double || b is double ? (object)(ToDouble(a) + ToDouble(b)) : checked(ToLong(a) + ToLong(b));
        if (a is string sa && b is string sb) return CheckLength(sa.Length + (long)sb.Length) ? sa + sb : null;
        if (a is IList<object?> la && b is IList<object?> lb && (a is object?[]) == (b is object?[]))
        {
            var joined = new List<object?>(la.Count + lb.Count);
            joined.AddRange(la);
            joined.AddRange(lb);
            return a is object?[] ? joined.ToArray() : joined;
        }
        throw BinaryTypeError("+", a, b);
    }

    public static object? Subtract(object? a, object? b) =>
        IsNumber(a) && IsNumber(b)
            ? a is double || b is double ? (object)(ToDouble(a) - ToDouble(b)) : checked(ToLong(a) - ToLong(b))
            : throw BinaryTypeError("-", a, b);

    public static object? Multiply(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
            return a is double || b is double ? (object)(ToDouble(a) * ToDouble(b)) : checked(ToLong(a) * ToLong(b));
        if (a is string s && b is long or bool) return Repeat(s, ToLong(b));
        if (b is string s2 && a is long or bool) return Repeat(s2, ToLong(a));
        if (a is IList<object?> list && b is long or bool) return RepeatList(list, ToLong(b), a is object?[]);
        if (b is IList<object?> list2 && a is long or bool) return RepeatList(list2, ToLong(a), b is object?[]);
        throw BinaryTypeError("*", a, b);
    }

    private static object RepeatList(IList<object?> list, long count, bool isTuple)
    {
        long n = Math.Max(0, count);
        CheckLength(n * list.Count);
        var result = new List<object?>();
        for (long i = 0; i < n; i++) result.AddRange(list);
        return isTuple ? result.ToArray() : result;
    }

    private static string Repeat(string s, long count)
    {
        if (count <= 0 || s.Length == 0) return "";
        CheckLength(count * s.Length);
        return new StringBuilder(s.Length * (int)count).Insert(0, s, (int)count).ToString();
    }

    private static bool CheckLength(long length) =>
        length <= MaxStringLength ? true : throw new JinjaError($"result would exceed {MaxStringLength} characters");

    public static object? TrueDivide(object? a, object? b)
    {
        if (!IsNumber(a) || !IsNumber(b)) throw BinaryTypeError("/", a, b);
        double divisor = ToDouble(b);
        if (divisor == 0) throw new JinjaError("division by zero");
        return ToDouble(a) / divisor;
    }

    public static object? FloorDivide(object? a, object? b)
    {
        if (!IsNumber(a) || !IsNumber(b)) throw BinaryTypeError("//", a, b);
        if (a is double || b is double)
        {
            double divisor = ToDouble(b);
            if (divisor == 0) throw new JinjaError("float floor division by zero");
            return Math.Floor(ToDouble(a) / divisor);
        }
        long x = ToLong(a), y = ToLong(b);
        if (y == 0) throw new JinjaError("integer division or modulo by zero");
        long q = x / y;
        return (x % y != 0) && ((x < 0) != (y < 0)) ? q - 1 : q;
    }

    public static object? Modulo(object? a, object? b)
    {
        if (a is string format) return PercentFormat(format, b);
        if (!IsNumber(a) || !IsNumber(b)) throw BinaryTypeError("%", a, b);
        if (a is double || b is double)
        {
            double x = ToDouble(a), y = ToDouble(b);
            if (y == 0) throw new JinjaError("float modulo by zero");
            double r = x % y;
            return r != 0 && (r < 0) != (y < 0) ? r + y : r;
        }
        long lx = ToLong(a), ly = ToLong(b);
        if (ly == 0) throw new JinjaError("integer division or modulo by zero");
        long m = lx % ly;
        return m != 0 && (m < 0) != (ly < 0) ? m + ly : m;
    }

    public static object? Power(object? a, object? b)
    {
        if (!IsNumber(a) || !IsNumber(b)) throw BinaryTypeError("**", a, b);
        if (a is double || b is double || ToLong(b) < 0) return Math.Pow(ToDouble(a), ToDouble(b));
        long result = 1, bas = ToLong(a);
        for (long e = ToLong(b); e > 0; e--) result = checked(result * bas);
        return result;
    }

    public static object? Negate(object? a) => a switch
    {
        // Arms cast to object: a long/double switch would otherwise be typed double and turn ints into floats.
        long l => (object)checked(-l),
        bool b => b ? -1L : 0L,
        double d => -d,
        _ => throw new JinjaError($"bad operand type for unary -: '{TypeName(a)}'"),
    };

    /// <summary>printf-style <c>'%s' % value</c> for %s, %d, %i, %f, %r and %%.</summary>
    private static string PercentFormat(string format, object? args)
    {
        var values = args is object?[] tuple ? tuple : [args];
        var sb = new StringBuilder();
        int next = 0;
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%') { sb.Append(format[i]); continue; }
            if (++i >= format.Length) throw new JinjaError("incomplete format");
            char spec = format[i];
            if (spec == '%') { sb.Append('%'); continue; }
            if (next >= values.Length) throw new JinjaError("not enough arguments for format string");
            object? value = values[next++];
            sb.Append(spec switch
            {
                's' => Str(value),
                'r' => Repr(value),
                'd' or 'i' => ToLong(value is double d ? (long)d : value).ToString(CultureInfo.InvariantCulture),
                'f' => ToDouble(value).ToString("F6", CultureInfo.InvariantCulture),
                _ => throw new JinjaError($"unsupported format character '{spec}'"),
            });
        }
        // Python only complains about leftovers for tuple/scalar arguments; a list or dict argument may go unused.
        if (next < values.Length && args is not (PyDict or List<object?>))
            throw new JinjaError("not all arguments converted during string formatting");
        return sb.ToString();
    }

    private static JinjaError BinaryTypeError(string op, object? a, object? b) =>
        a is Undefined u ? new JinjaError(u.Description)
        : b is Undefined ub ? new JinjaError(ub.Description)
        : new JinjaError($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");

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
