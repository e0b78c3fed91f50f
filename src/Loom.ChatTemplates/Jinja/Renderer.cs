using System.Runtime.CompilerServices;
using System.Text;

namespace Loom.ChatTemplates.Jinja;

/// <summary>
/// Tree-walking evaluator for one render. Holds all per-render state (output, scopes, budgets), so a parsed template is
/// shared safely across threads and each <see cref="JinjaChatTemplate.Render"/> makes its own renderer.
/// Statements here; expressions in Renderer.Expressions.cs.
/// </summary>
internal sealed partial class Renderer
{
    // Budgets against runaway templates: Jinja has no while-loop, but nested loops, recursion and range() can still explode.
    public const long MaxLoopIterations = 1_000_000;
    public const int MaxCallDepth = 64;

    private enum Flow { Normal, Break, Continue }

    private readonly TimeProvider _time;
    private StringBuilder _out = new();
    private Scope _scope;
    private long _iterations;
    private int _callDepth;

    public Renderer(Scope globals, TimeProvider time)
    {
        _scope = globals;
        _time = time;
    }

    public TimeProvider Time => _time;

    public string Render(IReadOnlyList<Node> body)
    {
        ExecuteBody(body);
        return _out.ToString();
    }

    private Flow ExecuteBody(IReadOnlyList<Node> body)
    {
        foreach (Node node in body)
        {
            Flow flow = Execute(node);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Execute(Node node)
    {
        try
        {
            switch (node)
            {
                case TextNode text: Write(text.Text); return Flow.Normal;
                case OutputNode output: Write(Py.Str(Eval(output.Value))); return Flow.Normal;
                case IfNode ifNode: return ExecuteIf(ifNode);
                case ForNode forNode: return ExecuteFor(forNode);
                case SetNode set: Assign(set.Target, Eval(set.Value)); return Flow.Normal;
                case SetBlockNode setBlock: Assign(setBlock.Target, Capture(setBlock.Body)); return Flow.Normal;
                case MacroNode macro: _scope.Set(macro.Name, new Macro(macro, _scope)); return Flow.Normal;
                case CallBlockNode callBlock: Write(Py.Str(ExecuteCallBlock(callBlock))); return Flow.Normal;
                case FilterBlockNode filterBlock: Write(Py.Str(ApplyFilterChain(filterBlock.Filter, Capture(filterBlock.Body)))); return Flow.Normal;
                case BlockNode block: return ExecuteBody(block.Body);
                case BreakNode: return Flow.Break;
                case ContinueNode: return Flow.Continue;
                default: throw new JinjaError($"unsupported statement {node.GetType().Name}");
            }
        }
        catch (JinjaError e) when (e.Position < 0)
        {
            e.Position = node.Position;
            throw;
        }
    }

    private void Write(string text)
    {
        if (_out.Length + (long)text.Length > Py.MaxStringLength)
            throw new JinjaError($"rendered output would exceed {Py.MaxStringLength} characters");
        _out.Append(text);
    }

    /// <summary>Renders <paramref name="body"/> into a string instead of the output (set blocks, macros, filter blocks).</summary>
    private string Capture(IReadOnlyList<Node> body)
    {
        StringBuilder saved = _out;
        _out = new StringBuilder();
        try
        {
            ExecuteBody(body);
            return _out.ToString();
        }
        finally
        {
            _out = saved;
        }
    }

    private Flow ExecuteIf(IfNode node)
    {
        foreach (var (condition, body) in node.Branches)
            if (Py.IsTruthy(Eval(condition))) return ExecuteBody(body);
        return node.Else != null ? ExecuteBody(node.Else) : Flow.Normal;
    }

    private Flow ExecuteFor(ForNode node)
    {
        object? iterable = Eval(node.Iterable);
        if (iterable is null) throw new JinjaError("'NoneType' object is not iterable", node.Iterable.Position);
        IReadOnlyList<object?> items = Py.ToList(iterable);

        Scope outer = _scope;
        try
        {
            if (node.Filter != null) items = FilterLoopItems(node, items, outer);
            var loop = new LoopContext(items);
            for (int i = 0; i < items.Count; i++)
            {
                CountIteration();
                // Jinja gives every iteration a fresh scope: a {% set %} in the body neither leaks out of the loop
                // nor survives into the next iteration (hence namespace()).
                _scope = new Scope(outer);
                _scope.Set("loop", loop);
                loop.Index0 = i;
                Assign(node.Target, items[i]);
                if (ExecuteBody(node.Body) == Flow.Break) break;
            }
        }
        finally
        {
            _scope = outer;
        }
        return items.Count == 0 && node.Else != null ? ExecuteBody(node.Else) : Flow.Normal;
    }

    /// <summary><c>for x in xs if cond</c>: the condition filters before looping, so loop.index/length count kept items only.</summary>
    private List<object?> FilterLoopItems(ForNode node, IReadOnlyList<object?> items, Scope outer)
    {
        var kept = new List<object?>();
        foreach (object? item in items)
        {
            CountIteration();
            _scope = new Scope(outer);
            Assign(node.Target, item);
            if (Py.IsTruthy(Eval(node.Filter!))) kept.Add(item);
        }
        return kept;
    }

    private void CountIteration()
    {
        if (++_iterations > MaxLoopIterations)
            throw new JinjaError($"template exceeded {MaxLoopIterations} loop iterations");
    }

    private void Assign(AssignTarget target, object? value)
    {
        switch (target)
        {
            case NameTarget name:
                _scope.Set(name.Name, value);
                break;
            case AttributeTarget attribute:
                if (!_scope.TryGet(attribute.Object, out object? owner) || owner is not Namespace ns)
                    throw new JinjaError($"cannot assign attribute on '{attribute.Object}': it is not a namespace()");
                ns.Attributes[attribute.Attribute] = value;
                break;
            case TupleTarget tuple:
                IReadOnlyList<object?> values = Py.ToList(value);
                if (values.Count != tuple.Items.Count)
                    throw new JinjaError($"cannot unpack {values.Count} values into {tuple.Items.Count} names");
                for (int i = 0; i < values.Count; i++) Assign(tuple.Items[i], values[i]);
                break;
        }
    }

    private object? ExecuteCallBlock(CallBlockNode node)
    {
        object? callee = Eval(node.Call.Callee);
        if (callee is not Macro macro) throw new JinjaError("{% call %} needs a macro", node.Call.Position);
        var caller = new Macro(new MacroNode("caller", node.CallerParameters, node.Body, node.Position), _scope);
        var (args, kwargs) = EvalArguments(node.Call.Args);
        return InvokeMacro(macro, args, kwargs, caller);
    }

    public object? InvokeMacro(Macro macro, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs, Macro? caller = null)
    {
        if (++_callDepth > MaxCallDepth) throw new JinjaError($"macro calls nest deeper than {MaxCallDepth} levels");
        RuntimeHelpers.EnsureSufficientExecutionStack();
        Scope saved = _scope;
        _scope = new Scope(macro.Closure);
        try
        {
            var parameters = macro.Node.Parameters;
            for (int i = 0; i < parameters.Count; i++)
            {
                string name = parameters[i].Name;
                object? value = i < args.Count ? args[i]
                    : kwargs.TryGetValue(name, out object? named) ? named
                    : parameters[i].Default != null ? Eval(parameters[i].Default!)
                    : new Undefined($"parameter '{name}' of macro '{macro.Node.Name}' was not provided");
                _scope.Set(name, value);
            }
            _scope.Set("varargs", args.Skip(parameters.Count).ToList());
            var extra = new PyDict();
            foreach (var (key, value) in kwargs)
                if (!parameters.Any(p => p.Name == key)) extra[key] = value;
            _scope.Set("kwargs", extra);
            if (caller != null) _scope.Set("caller", caller);
            return Capture(macro.Node.Body);
        }
        finally
        {
            _scope = saved;
            _callDepth--;
        }
    }
}
