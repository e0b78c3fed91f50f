namespace Loom.ChatTemplates.Jinja;

// The interpreter's value model, chosen to mirror Python's:
//   None -> null, bool -> bool, int -> long, float -> double, str -> string,
//   list -> List<object?>, tuple -> object?[], dict -> PyDict (insertion-ordered),
//   plus Undefined, Namespace, LoopContext and callables (Callable, Macro).

/// <summary>Jinja's Undefined: falsy, renders as "", iterates as empty; using it as an object is an error.</summary>
internal sealed class Undefined(string? hint)
{
    public static readonly Undefined Anonymous = new(null);

    /// <summary>What was missing, e.g. "'foo' is undefined" or "'dict object' has no attribute 'bar'".</summary>
    public string Description => hint ?? "value is undefined";
}

/// <summary>An insertion-ordered dict with Python key equality (1 == 1.0 == True).</summary>
internal sealed class PyDict : OrderedDictionary<object, object?>
{
    public PyDict() : base(PyKeyComparer.Instance) { }
    public PyDict(int capacity) : base(capacity, PyKeyComparer.Instance) { }
}

internal sealed class PyKeyComparer : IEqualityComparer<object>
{
    public static readonly PyKeyComparer Instance = new();

    public new bool Equals(object? x, object? y) => Py.Equal(x, y);

    public int GetHashCode(object obj) => obj switch
    {
        string s => s.GetHashCode(StringComparison.Ordinal),
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        double d => d == Math.Floor(d) && Math.Abs(d) < 9e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
        _ => obj.GetHashCode(),
    };
}

/// <summary>The object made by <c>namespace(...)</c>: mutable attributes that survive scope boundaries.</summary>
internal sealed class Namespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>The <c>loop</c> variable inside a for loop.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items)
{
    public int Index0 { get; set; }
    public int Length => items.Count;

    public object? GetAttribute(string name) => name switch
    {
        "index" => (long)Index0 + 1,
        "index0" => (long)Index0,
        "revindex" => (long)(Length - Index0),
        "revindex0" => (long)(Length - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == Length - 1,
        "length" => (long)Length,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? items[Index0 - 1] : new Undefined("there is no previous item"),
        "nextitem" => Index0 + 1 < Length ? items[Index0 + 1] : new Undefined("there is no next item"),
        "cycle" => new Callable("loop.cycle", (args, _) =>
            args.Count == 0 ? throw new JinjaError("loop.cycle() needs at least one argument") : args[Index0 % args.Count]),
        _ => new Undefined($"'loop' has no attribute '{name}'"),
    };
}

internal delegate object? CallableBody(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs);

/// <summary>A built-in function or bound method (raise_exception, namespace, range, str.strip, dict.get, ...).</summary>
internal sealed class Callable(string name, CallableBody body)
{
    public string Name { get; } = name;
    public object? Invoke(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs) => body(args, kwargs);
}

/// <summary>A runtime error inside the template; the renderer adds the source position when the throw site lacks it.</summary>
internal sealed class JinjaError(string message, int position = -1) : Exception(message)
{
    public int Position { get; set; } = position;
}
