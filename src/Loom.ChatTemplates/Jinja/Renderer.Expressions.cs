namespace Loom.ChatTemplates.Jinja;

internal sealed partial class Renderer
{
    private static readonly IReadOnlyDictionary<string, object?> NoKwargs = new Dictionary<string, object?>();

    public object? Eval(Expr expr)
    {
        try
        {
            return expr switch
            {
                Literal literal => literal.Value,
                Name name => _scope.TryGet(name.Identifier, out object? value) ? value : new Undefined($"'{name.Identifier}' is undefined"),
                GetAttr getAttr => Members.GetAttribute(Eval(getAttr.Target), getAttr.Attribute),
                GetItem { Index: SliceExpr slice } getSlice => EvalSlice(Eval(getSlice.Target), slice),
                GetItem getItem => Members.GetItem(Eval(getItem.Target), Eval(getItem.Index)),
                Binary binary => EvalBinary(binary),
                Unary unary => EvalUnary(unary),
                Conditional conditional => Py.IsTruthy(Eval(conditional.Condition)) ? Eval(conditional.Then)
                    : conditional.Else != null ? Eval(conditional.Else) : new Undefined("the inline if had no else branch"),
                FilterExpr filter => ApplyFilter(filter, Eval(filter.Input!)),
                TestExpr test => EvalTest(test),
                Call call => EvalCall(call),
                ListExpr list => list.Items.Select(Eval).ToList(),
                TupleExpr tuple => tuple.Items.Select(Eval).ToArray(),
                DictExpr dict => EvalDict(dict),
                _ => throw new JinjaError($"unsupported expression {expr.GetType().Name}"),
            };
        }
        catch (JinjaError e) when (e.Position < 0)
        {
            e.Position = expr.Position;
            throw;
        }
        catch (OverflowException)
        {
            throw new JinjaError("integer overflow", expr.Position);
        }
    }

    private PyDict EvalDict(DictExpr dict)
    {
        var result = new PyDict(dict.Items.Count);
        foreach (var (keyExpr, valueExpr) in dict.Items)
        {
            object? key = Eval(keyExpr);
            if (key is null or Undefined or List<object?> or PyDict)
                throw new JinjaError($"unhashable or missing dict key of type '{Py.TypeName(key)}'", keyExpr.Position);
            result[key] = Eval(valueExpr);
        }
        return result;
    }

    private object? EvalUnary(Unary unary)
    {
        object? operand = Eval(unary.Operand);
        return unary.Operator switch
        {
            "not" => !Py.IsTruthy(operand),
            "-" => Py.Negate(operand),
            _ => Py.IsNumber(operand) ? (operand is bool b ? (b ? 1L : 0L) : operand) : throw new JinjaError($"bad operand type for unary +: '{Py.TypeName(operand)}'"),
        };
    }

    private object? EvalBinary(Binary binary)
    {
        // and/or short-circuit and return an operand, as in Python.
        if (binary.Operator == "and")
        {
            object? left = Eval(binary.Left);
            return Py.IsTruthy(left) ? Eval(binary.Right) : left;
        }
        if (binary.Operator == "or")
        {
            object? left = Eval(binary.Left);
            return Py.IsTruthy(left) ? left : Eval(binary.Right);
        }
        object? a = Eval(binary.Left);
        object? b = Eval(binary.Right);
        return binary.Operator switch
        {
            "==" => Py.Equal(a, b),
            "!=" => !Py.Equal(a, b),
            "<" => Py.Compare(a, b) < 0,
            "<=" => Py.Compare(a, b) <= 0,
            ">" => Py.Compare(a, b) > 0,
            ">=" => Py.Compare(a, b) >= 0,
            "in" => Py.Contains(b, a),
            "not in" => !Py.Contains(b, a),
            "~" => Concat(a, b),
            "+" => Py.Add(a, b),
            "-" => Py.Subtract(a, b),
            "*" => Py.Multiply(a, b),
            "/" => Py.TrueDivide(a, b),
            "//" => Py.FloorDivide(a, b),
            "%" => Py.Modulo(a, b),
            "**" => Py.Power(a, b),
            _ => throw new JinjaError($"unknown operator '{binary.Operator}'"),
        };
    }

    private static string Concat(object? a, object? b)
    {
        string left = Py.Str(a), right = Py.Str(b);
        if (left.Length + (long)right.Length > Py.MaxStringLength)
            throw new JinjaError($"result would exceed {Py.MaxStringLength} characters");
        return left + right;
    }

    private object? EvalSlice(object? target, SliceExpr slice)
    {
        long? start = SliceBound(slice.Start), stop = SliceBound(slice.Stop), step = SliceBound(slice.Step);
        return Members.Slice(target, start, stop, step);
    }

    private long? SliceBound(Expr? expr)
    {
        if (expr == null) return null;
        object? value = Eval(expr);
        return value is null ? null : value is long or bool ? Py.ToLong(value) : throw new JinjaError("slice indices must be integers or None");
    }

    private (List<object?> Args, Dictionary<string, object?> Kwargs) EvalArguments(Arguments arguments)
    {
        var args = new List<object?>(arguments.Positional.Count);
        foreach (Expr arg in arguments.Positional) args.Add(Eval(arg));
        var kwargs = new Dictionary<string, object?>(arguments.Named.Count, StringComparer.Ordinal);
        foreach (var (name, value) in arguments.Named) kwargs[name] = Eval(value);
        return (args, kwargs);
    }

    private object? EvalCall(Call call)
    {
        object? callee = Eval(call.Callee);
        var (args, kwargs) = EvalArguments(call.Args);
        return callee switch
        {
            Callable callable => callable.Invoke(args, kwargs),
            Macro macro => InvokeMacro(macro, args, kwargs),
            Undefined u => throw new JinjaError(u.Description + " (called as a function)"),
            _ => throw new JinjaError($"'{Py.TypeName(callee)}' object is not callable"),
        };
    }

    private object? ApplyFilter(FilterExpr filter, object? input)
    {
        var (args, kwargs) = EvalArguments(filter.Args);
        return Filters.Apply(this, filter.FilterName, input, args, kwargs);
    }

    /// <summary>A filter block's chain: the innermost filter (null input) receives the captured body text.</summary>
    private object? ApplyFilterChain(FilterExpr filter, object? body) =>
        ApplyFilter(filter, filter.Input is FilterExpr inner ? ApplyFilterChain(inner, body) : body);

    private bool EvalTest(TestExpr test)
    {
        object? value = Eval(test.Input);
        var (args, _) = EvalArguments(test.Args);
        bool result = Tests.Apply(test.TestName, value, args);
        return test.Negated ? !result : result;
    }

    /// <summary>Calls a filter or test by name from another filter (map('upper'), select('odd')).</summary>
    public object? CallFilter(string name, object? input, IReadOnlyList<object?> args) => Filters.Apply(this, name, input, args, NoKwargs);
}
