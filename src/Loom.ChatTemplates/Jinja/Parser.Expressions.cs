namespace Loom.ChatTemplates.Jinja;

// Expression grammar, loosest binding first (as in Jinja's parser):
// conditional > or > and > not > comparison > + - > ~ > * / // % > ** > unary - + > primary, postfix (. [] ()), filters and tests.
internal sealed partial class Parser
{
    private static readonly HashSet<string> ComparisonOperators = ["==", "!=", "<", "<=", ">", ">="];

    private Expr ParseExpression()
    {
        Enter(Current);
        try
        {
            Expr value = ParseOr();
            while (SkipName("if"))
            {
                Expr condition = ParseOr();
                Expr? otherwise = SkipName("else") ? ParseExpression() : null;
                value = new Conditional(condition, value, otherwise, value.Position);
            }
            return value;
        }
        finally
        {
            Leave();
        }
    }

    /// <summary><c>a, b</c> on the right of set: a tuple without parentheses.</summary>
    private Expr ParseTupleOrExpression()
    {
        Expr first = ParseExpression();
        if (!Current.IsOperator(",")) return first;
        var items = new List<Expr> { first };
        while (SkipOperator(",") && Current.Kind != TokenKind.BlockEnd) items.Add(ParseExpression());
        return new TupleExpr(items, first.Position);
    }

    private Expr ParseOr()
    {
        Expr left = ParseAnd();
        while (Current.IsName("or"))
        {
            int at = Advance().Position;
            left = new Binary("or", left, ParseAnd(), at);
        }
        return left;
    }

    private Expr ParseAnd()
    {
        Expr left = ParseNot();
        while (Current.IsName("and"))
        {
            int at = Advance().Position;
            left = new Binary("and", left, ParseNot(), at);
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (!Current.IsName("not")) return ParseComparison();
        Token not = Advance();
        Enter(not);
        try
        {
            return new Unary("not", ParseNot(), not.Position);
        }
        finally
        {
            Leave();
        }
    }

    private Expr ParseComparison()
    {
        Expr left = ParseAdditive();
        Expr? result = null;
        while (true)
        {
            Token token = Current;
            string op;
            if (token.Kind == TokenKind.Operator && ComparisonOperators.Contains(token.Value)) { op = token.Value; _index++; }
            else if (token.IsName("in")) { op = "in"; _index++; }
            else if (token.IsName("not") && Peek().IsName("in")) { op = "not in"; _index += 2; }
            else break;
            Expr right = ParseAdditive();
            // Chained comparisons (a < b < c) mean (a < b) and (b < c), as in Python.
            var comparison = new Binary(op, left, right, token.Position);
            result = result == null ? comparison : new Binary("and", result, comparison, token.Position);
            left = right;
        }
        return result ?? left;
    }

    private Expr ParseAdditive()
    {
        Expr left = ParseConcat();
        while (Current.IsOperator("+") || Current.IsOperator("-"))
        {
            Token op = Advance();
            left = new Binary(op.Value, left, ParseConcat(), op.Position);
        }
        return left;
    }

    private Expr ParseConcat()
    {
        Expr left = ParseMultiplicative();
        while (Current.IsOperator("~"))
        {
            Token op = Advance();
            left = new Binary("~", left, ParseMultiplicative(), op.Position);
        }
        return left;
    }

    private Expr ParseMultiplicative()
    {
        Expr left = ParsePower();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            Token op = Advance();
            left = new Binary(op.Value, left, ParsePower(), op.Position);
        }
        return left;
    }

    private Expr ParsePower()
    {
        Expr left = ParseUnary(withFilters: true);
        while (Current.IsOperator("**"))
        {
            Token op = Advance();
            left = new Binary("**", left, ParseUnary(withFilters: true), op.Position);
        }
        return left;
    }

    private Expr ParseUnary(bool withFilters)
    {
        Token token = Current;
        Expr node;
        if (token.IsOperator("-") || token.IsOperator("+"))
        {
            _index++;
            Enter(token);
            try
            {
                node = new Unary(token.Value, ParseUnary(withFilters: false), token.Position);
            }
            finally
            {
                Leave();
            }
        }
        else
        {
            node = ParsePrimary();
        }
        node = ParsePostfix(node);
        return withFilters ? ParseFiltersAndTests(node) : node;
    }

    private Expr ParsePrimary()
    {
        Token token = Advance();
        switch (token.Kind)
        {
            case TokenKind.Name:
                return token.Value switch
                {
                    "true" or "True" => new Literal(true, token.Position),
                    "false" or "False" => new Literal(false, token.Position),
                    "none" or "None" => new Literal(null, token.Position),
                    _ => new Name(token.Value, token.Position),
                };
            case TokenKind.String:
            {
                string value = token.Value;
                while (Current.Kind == TokenKind.String) value += Advance().Value; // 'a' 'b' is 'ab'
                return new Literal(value, token.Position);
            }
            case TokenKind.Integer:
            case TokenKind.Float:
                return new Literal(token.Literal, token.Position);
            case TokenKind.Operator when token.Value == "(":
                return ParseParenthesized(token);
            case TokenKind.Operator when token.Value == "[":
                return new ListExpr(ParseSequence("]"), token.Position);
            case TokenKind.Operator when token.Value == "{":
                return ParseDict(token);
            default:
                throw Error($"unexpected {token} in expression", token);
        }
    }

    private Expr ParseParenthesized(Token open)
    {
        Enter(open);
        try
        {
            if (SkipOperator(")")) return new TupleExpr([], open.Position);
            Expr first = ParseExpression();
            if (SkipOperator(")")) return first;
            ExpectOperator(",");
            var items = new List<Expr> { first };
            items.AddRange(ParseSequence(")"));
            return new TupleExpr(items, open.Position);
        }
        finally
        {
            Leave();
        }
    }

    /// <summary>Comma-separated expressions up to <paramref name="close"/>, trailing comma allowed.</summary>
    private List<Expr> ParseSequence(string close)
    {
        var items = new List<Expr>();
        while (!SkipOperator(close))
        {
            if (items.Count > 0)
            {
                ExpectOperator(",");
                if (SkipOperator(close)) break;
            }
            items.Add(ParseExpression());
        }
        return items;
    }

    private DictExpr ParseDict(Token open)
    {
        var items = new List<(Expr, Expr)>();
        while (!SkipOperator("}"))
        {
            if (items.Count > 0)
            {
                ExpectOperator(",");
                if (SkipOperator("}")) break;
            }
            Expr key = ParseExpression();
            ExpectOperator(":");
            items.Add((key, ParseExpression()));
        }
        return new DictExpr(items, open.Position);
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            Token token = Current;
            if (token.IsOperator("."))
            {
                _index++;
                Token attribute = Advance();
                node = attribute.Kind switch
                {
                    TokenKind.Name => new GetAttr(node, attribute.Value, token.Position),
                    TokenKind.Integer => new GetItem(node, new Literal(attribute.Literal, attribute.Position), token.Position),
                    _ => throw Error($"expected an attribute name after '.', found {attribute}", attribute),
                };
            }
            else if (token.IsOperator("["))
            {
                _index++;
                node = new GetItem(node, ParseSubscript(token), token.Position);
                ExpectOperator("]");
            }
            else if (token.IsOperator("("))
            {
                node = new Call(node, ParseCallArguments(), token.Position);
            }
            else
            {
                return node;
            }
        }
    }

    private Expr ParseSubscript(Token open)
    {
        Expr? start = Current.IsOperator(":") ? null : ParseExpression();
        if (!SkipOperator(":")) return start!;
        Expr? stop = Current.IsOperator("]") || Current.IsOperator(":") ? null : ParseExpression();
        Expr? step = null;
        if (SkipOperator(":") && !Current.IsOperator("]")) step = ParseExpression();
        return new SliceExpr(start, stop, step, open.Position);
    }

    private Expr ParseFiltersAndTests(Expr node)
    {
        while (true)
        {
            if (SkipOperator("|")) node = ParseFilter(node);
            else if (Current.IsName("is")) node = ParseTest(node);
            else if (Current.IsOperator("("))
            {
                int at = Current.Position;
                node = new Call(node, ParseCallArguments(), at);
            }
            else return node;
        }
    }

    private FilterExpr ParseFilter(Expr? input)
    {
        Token name = Expect(TokenKind.Name, "a filter name");
        Arguments args = Current.IsOperator("(") ? ParseCallArguments() : Arguments.None;
        return new FilterExpr(input, name.Value, args, name.Position);
    }

    private TestExpr ParseTest(Expr input)
    {
        Token isToken = Advance();
        bool negated = SkipName("not");
        Token name = Expect(TokenKind.Name, "a test name after 'is'");
        Arguments args = Arguments.None;
        if (Current.IsOperator("("))
        {
            args = ParseCallArguments();
        }
        else if (StartsTestArgument(Current))
        {
            // `x is divisibleby 3`, `x is sameas none`: one argument without parentheses.
            args = new Arguments([ParsePostfix(ParsePrimary())], []);
        }
        return new TestExpr(input, name.Value, args, negated, isToken.Position);
    }

    private static bool StartsTestArgument(Token token) => token.Kind switch
    {
        TokenKind.Name => token.Value is not ("else" or "or" or "and" or "if" or "is" or "not" or "in"),
        TokenKind.String or TokenKind.Integer or TokenKind.Float => true,
        TokenKind.Operator => token.Value is "[" or "{",
        _ => false,
    };

    private Arguments ParseCallArguments()
    {
        Token open = Current;
        ExpectOperator("(");
        Enter(open);
        try
        {
            var positional = new List<Expr>();
            var named = new List<(string, Expr)>();
            while (!SkipOperator(")"))
            {
                if (positional.Count + named.Count > 0)
                {
                    ExpectOperator(",");
                    if (SkipOperator(")")) break;
                }
                if (Current.IsOperator("*") || Current.IsOperator("**"))
                    throw Error("*args and **kwargs in calls are not supported", Current);
                if (Current.Kind == TokenKind.Name && Peek().IsOperator("="))
                {
                    string name = Advance().Value;
                    _index++;
                    named.Add((name, ParseExpression()));
                }
                else
                {
                    if (named.Count > 0) throw Error("positional argument follows keyword argument", Current);
                    positional.Add(ParseExpression());
                }
            }
            return new Arguments(positional, named);
        }
        finally
        {
            Leave();
        }
    }
}
