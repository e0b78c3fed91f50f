namespace Loom.ChatTemplates.Jinja;

// The syntax tree. Immutable after parsing, so one parsed template renders concurrently on many threads.
// Every node keeps the source offset it came from, for runtime error messages.

internal abstract record Node(int Position);

internal sealed record TextNode(string Text, int Position) : Node(Position);
internal sealed record OutputNode(Expr Value, int Position) : Node(Position);
internal sealed record IfNode(IReadOnlyList<(Expr Condition, IReadOnlyList<Node> Body)> Branches, IReadOnlyList<Node>? Else, int Position) : Node(Position);
internal sealed record ForNode(AssignTarget Target, Expr Iterable, Expr? Filter, IReadOnlyList<Node> Body, IReadOnlyList<Node>? Else, int Position) : Node(Position);
internal sealed record SetNode(AssignTarget Target, Expr Value, int Position) : Node(Position);
internal sealed record SetBlockNode(AssignTarget Target, IReadOnlyList<Node> Body, int Position) : Node(Position);
internal sealed record MacroNode(string Name, IReadOnlyList<MacroParameter> Parameters, IReadOnlyList<Node> Body, int Position) : Node(Position);
internal sealed record CallBlockNode(Call Call, IReadOnlyList<MacroParameter> CallerParameters, IReadOnlyList<Node> Body, int Position) : Node(Position);
internal sealed record FilterBlockNode(FilterExpr Filter, IReadOnlyList<Node> Body, int Position) : Node(Position);
/// <summary>A body rendered in the current scope: <c>{% generation %}</c> and <c>{% raw %}</c> compile to this.</summary>
internal sealed record BlockNode(IReadOnlyList<Node> Body, int Position) : Node(Position);
internal sealed record BreakNode(int Position) : Node(Position);
internal sealed record ContinueNode(int Position) : Node(Position);

internal sealed record MacroParameter(string Name, Expr? Default);

/// <summary>Left side of set/for: a name, a tuple of names, or <c>ns.attr</c>.</summary>
internal abstract record AssignTarget;
internal sealed record NameTarget(string Name) : AssignTarget;
internal sealed record TupleTarget(IReadOnlyList<AssignTarget> Items) : AssignTarget;
internal sealed record AttributeTarget(string Object, string Attribute) : AssignTarget;

internal abstract record Expr(int Position);

internal sealed record Literal(object? Value, int Position) : Expr(Position);
internal sealed record ListExpr(IReadOnlyList<Expr> Items, int Position) : Expr(Position);
internal sealed record TupleExpr(IReadOnlyList<Expr> Items, int Position) : Expr(Position);
internal sealed record DictExpr(IReadOnlyList<(Expr Key, Expr Value)> Items, int Position) : Expr(Position);
internal sealed record Name(string Identifier, int Position) : Expr(Position);
internal sealed record GetAttr(Expr Target, string Attribute, int Position) : Expr(Position);
internal sealed record GetItem(Expr Target, Expr Index, int Position) : Expr(Position);
internal sealed record SliceExpr(Expr? Start, Expr? Stop, Expr? Step, int Position) : Expr(Position);
internal sealed record Call(Expr Callee, Arguments Args, int Position) : Expr(Position);
internal sealed record FilterExpr(Expr? Input, string FilterName, Arguments Args, int Position) : Expr(Position);
internal sealed record TestExpr(Expr Input, string TestName, Arguments Args, bool Negated, int Position) : Expr(Position);
internal sealed record Unary(string Operator, Expr Operand, int Position) : Expr(Position);
internal sealed record Binary(string Operator, Expr Left, Expr Right, int Position) : Expr(Position);
internal sealed record Conditional(Expr Condition, Expr Then, Expr? Else, int Position) : Expr(Position);

internal sealed record Arguments(IReadOnlyList<Expr> Positional, IReadOnlyList<(string Name, Expr Value)> Named)
{
    public static readonly Arguments None = new([], []);
}
