namespace Loom.ChatTemplates.Jinja;

/// <summary>Jinja tests (<c>x is defined</c>, <c>x is string</c>, ...) with Python's type rules (bool counts as a number).</summary>
internal static class Tests
{
    public static bool Apply(string name, object? value, IReadOnlyList<object?> args)
    {
        object? Arg(int i) => i < args.Count ? args[i] : throw new JinjaError($"test '{name}' needs {i + 1} argument(s)");
        return name switch
        {
            "defined" => value is not Undefined,
            "undefined" => value is Undefined,
            "none" => value is null,
            "string" => value is string,
            "number" => value is long or double or bool,
            "integer" => value is long,
            "float" => value is double,
            "boolean" => value is bool,
            "true" => value is true,
            "false" => value is false,
            "mapping" => value is PyDict,
            // Python's iter()/len()+__getitem__ checks; Jinja's Undefined passes both.
            "iterable" => value is string or IList<object?> or PyDict or Undefined,
            "sequence" => value is string or IList<object?> or PyDict or Undefined,
            "callable" => value is Callable or Macro,
            // Python's value % 2 == 0 / == 1, so 0.5 is neither even nor odd.
            "even" => Py.Equal(Py.Modulo(value, 2L), 0L),
            "odd" => Py.Equal(Py.Modulo(value, 2L), 1L),
            "divisibleby" => Py.Equal(Py.Modulo(value, Arg(0)), 0L),
            "lower" => value is string s && s == s.ToLowerInvariant(),
            "upper" => value is string u && u == u.ToUpperInvariant(),
            "eq" or "equalto" or "==" => Py.Equal(value, Arg(0)),
            "ne" or "!=" => !Py.Equal(value, Arg(0)),
            "lt" or "lessthan" or "<" => Py.Compare(value, Arg(0)) < 0,
            "le" or "<=" => Py.Compare(value, Arg(0)) <= 0,
            "gt" or "greaterthan" or ">" => Py.Compare(value, Arg(0)) > 0,
            "ge" or ">=" => Py.Compare(value, Arg(0)) >= 0,
            "in" => Py.Contains(Arg(0), value),
            "sameas" => SameAs(value, Arg(0)),
            "escaped" => false,
            _ => throw new JinjaError($"no test named '{name}'"),
        };
    }

    /// <summary>Python identity: boxed scalars compare by value (as small ints, bools, None and literals behave), containers by reference.</summary>
    private static bool SameAs(object? a, object? b) =>
        a is null or bool or long or double or string || b is null or bool or long or double or string ? Equals(a, b) : ReferenceEquals(a, b);

    public static bool Exists(string name) => name is "defined" or "undefined" or "none" or "string" or "number" or "integer" or "float"
        or "boolean" or "true" or "false" or "mapping" or "iterable" or "sequence" or "callable" or "even" or "odd" or "divisibleby"
        or "lower" or "upper" or "eq" or "equalto" or "==" or "ne" or "!=" or "lt" or "lessthan" or "<" or "le" or "<=" or "gt"
        or "greaterthan" or ">" or "ge" or ">=" or "in" or "sameas" or "escaped";
}
