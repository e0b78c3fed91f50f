using System.Globalization;
using System.Text;

namespace Loom.ChatTemplates.Jinja;

/// <summary>Python arithmetic: int/float promotion, true vs floor division, sign of modulo, sequence repetition, %-formatting.</summary>
internal static partial class Py
{
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
}
