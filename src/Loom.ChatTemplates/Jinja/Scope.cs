namespace Loom.ChatTemplates.Jinja;

/// <summary>One level of variables. For loops and macro calls push a scope; if-blocks do not (as in Jinja).</summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _variables = new(StringComparer.Ordinal);

    public Scope? Parent => parent;

    public bool TryGet(string name, out object? value)
    {
        for (Scope? scope = this; scope != null; scope = scope.Parent)
            if (scope._variables.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }

    public void Set(string name, object? value) => _variables[name] = value;
}

/// <summary>A macro bound to the scope it was defined in.</summary>
internal sealed class Macro(MacroNode node, Scope closure)
{
    public MacroNode Node { get; } = node;
    public Scope Closure { get; } = closure;
}
