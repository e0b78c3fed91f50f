namespace Loom.ChatTemplates.Jinja;

/// <summary>Recursive-descent parser from tokens to the statement tree (statements here, expressions in Parser.Expressions.cs).</summary>
internal sealed partial class Parser
{
    // Nesting cap for statements and expressions together: keeps hostile templates from overflowing the stack.
    private const int MaxNesting = 200;

    private readonly List<Token> _tokens;
    private readonly TemplateSource _source;
    private int _index;
    private int _nesting;

    private Parser(List<Token> tokens, TemplateSource source)
    {
        _tokens = tokens;
        _source = source;
    }

    public static IReadOnlyList<Node> Parse(TemplateSource source)
    {
        var parser = new Parser(Lexer.Tokenize(source), source);
        var body = parser.ParseBody([], out _);
        return body;
    }

    private Token Current => _tokens[_index];
    private Token Peek(int offset = 1) => _tokens[Math.Min(_index + offset, _tokens.Count - 1)];
    private Token Advance() => _tokens[_index++];

    private ChatTemplateException Error(string message, Token at) => _source.Error(message, at.Position);

    private Token Expect(TokenKind kind, string what)
    {
        if (Current.Kind != kind) throw Error($"expected {what}, found {Current}", Current);
        return Advance();
    }

    private void ExpectOperator(string op)
    {
        if (!Current.IsOperator(op)) throw Error($"expected '{op}', found {Current}", Current);
        _index++;
    }

    private void ExpectName(string name)
    {
        if (!Current.IsName(name)) throw Error($"expected '{name}', found {Current}", Current);
        _index++;
    }

    private bool SkipOperator(string op)
    {
        if (!Current.IsOperator(op)) return false;
        _index++;
        return true;
    }

    private bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        _index++;
        return true;
    }

    private void Enter(Token at)
    {
        if (++_nesting > MaxNesting) throw Error($"template nests deeper than {MaxNesting} levels", at);
    }

    private void Leave() => _nesting--;

    /// <summary>
    /// Parses nodes until a block tag whose keyword is in <paramref name="endTags"/> (left unconsumed after its
    /// <c>{%</c>, returned in <paramref name="endTag"/>) or, when no end tags are given, until the end of the template.
    /// </summary>
    private List<Node> ParseBody(string[] endTags, out string endTag)
    {
        var body = new List<Node>();
        while (true)
        {
            Token token = Current;
            switch (token.Kind)
            {
                case TokenKind.Eof:
                    if (endTags.Length > 0)
                        throw Error($"unexpected end of template: expected {string.Join(" or ", endTags.Select(t => $"'{{% {t} %}}'"))}", token);
                    endTag = "";
                    return body;
                case TokenKind.Text:
                    _index++;
                    body.Add(new TextNode(token.Value, token.Position));
                    break;
                case TokenKind.VariableBegin:
                    _index++;
                    body.Add(new OutputNode(ParseExpression(), token.Position));
                    Expect(TokenKind.VariableEnd, "'}}'");
                    break;
                case TokenKind.BlockBegin:
                    Token keyword = Peek();
                    if (keyword.Kind == TokenKind.Name && endTags.Contains(keyword.Value))
                    {
                        _index += 2;
                        endTag = keyword.Value;
                        return body;
                    }
                    _index++;
                    Node? statement = ParseStatement(token);
                    if (statement != null) body.Add(statement);
                    break;
                default:
                    throw Error($"unexpected {token}", token);
            }
        }
    }

    private Node? ParseStatement(Token begin)
    {
        Token keyword = Expect(TokenKind.Name, "a statement keyword");
        Enter(keyword);
        try
        {
            switch (keyword.Value)
            {
                case "if": return ParseIf(begin);
                case "for": return ParseFor(begin);
                case "set": return ParseSet(begin);
                case "macro": return ParseMacro(begin);
                case "call": return ParseCallBlock(begin);
                case "filter": return ParseFilterBlock(begin);
                case "break": EndTag(); return new BreakNode(begin.Position);
                case "continue": EndTag(); return new ContinueNode(begin.Position);
                case "raw":
                {
                    // The lexer already turned everything up to {% endraw %} into one text token (or none, if empty).
                    EndTag();
                    Token text = Current;
                    if (text.Kind != TokenKind.Text) return null;
                    _index++;
                    return new TextNode(text.Value, text.Position);
                }
                case "generation":
                {
                    EndTag();
                    var body = ParseBody(["end" + keyword.Value], out _);
                    EndTag();
                    return new BlockNode(body, begin.Position);
                }
                default:
                    throw Error($"unknown statement '{keyword.Value}'", keyword);
            }
        }
        finally
        {
            Leave();
        }
    }

    private void EndTag() => Expect(TokenKind.BlockEnd, "'%}'");

    private IfNode ParseIf(Token begin)
    {
        var branches = new List<(Expr, IReadOnlyList<Node>)>();
        IReadOnlyList<Node>? elseBody = null;
        Expr condition = ParseExpression();
        while (true)
        {
            EndTag();
            var body = ParseBody(["elif", "else", "endif"], out string end);
            branches.Add((condition, body));
            if (end == "elif")
            {
                condition = ParseExpression();
                continue;
            }
            if (end == "else")
            {
                EndTag();
                elseBody = ParseBody(["endif"], out _);
            }
            EndTag();
            return new IfNode(branches, elseBody, begin.Position);
        }
    }

    private ForNode ParseFor(Token begin)
    {
        AssignTarget target = ParseAssignTarget(allowAttribute: false);
        ExpectName("in");
        Expr iterable = ParseTernaryFree();
        Expr? filter = SkipName("if") ? ParseExpression() : null;
        if (SkipName("recursive")) throw Error("recursive loops are not supported", Current);
        EndTag();
        var body = ParseBody(["else", "endfor"], out string end);
        IReadOnlyList<Node>? elseBody = null;
        if (end == "else")
        {
            EndTag();
            elseBody = ParseBody(["endfor"], out _);
        }
        EndTag();
        return new ForNode(target, iterable, filter, body, elseBody, begin.Position);
    }

    /// <summary>The iterable of a for loop: an expression without the trailing <c>if</c> (which is the loop filter).</summary>
    private Expr ParseTernaryFree()
    {
        Expr first = ParseOr();
        if (!Current.IsOperator(",")) return first;
        var items = new List<Expr> { first };
        while (SkipOperator(",") && !Current.IsName("if") && Current.Kind != TokenKind.BlockEnd) items.Add(ParseOr());
        return new TupleExpr(items, first.Position);
    }

    private Node ParseSet(Token begin)
    {
        AssignTarget target = ParseAssignTarget(allowAttribute: true);
        if (SkipOperator("="))
        {
            Expr value = ParseTupleOrExpression();
            EndTag();
            return new SetNode(target, value, begin.Position);
        }
        EndTag();
        var body = ParseBody(["endset"], out _);
        EndTag();
        return new SetBlockNode(target, body, begin.Position);
    }

    private AssignTarget ParseAssignTarget(bool allowAttribute)
    {
        bool parenthesized = SkipOperator("(");
        var items = new List<AssignTarget>();
        do
        {
            if (parenthesized && Current.IsOperator(")")) break;
            Token name = Expect(TokenKind.Name, "a variable name");
            if (allowAttribute && SkipOperator("."))
                items.Add(new AttributeTarget(name.Value, Expect(TokenKind.Name, "an attribute name").Value));
            else
                items.Add(new NameTarget(name.Value));
        } while (SkipOperator(","));
        if (parenthesized) ExpectOperator(")");
        return items.Count == 1 && !parenthesized ? items[0] : new TupleTarget(items);
    }

    private MacroNode ParseMacro(Token begin)
    {
        string name = Expect(TokenKind.Name, "a macro name").Value;
        var parameters = ParseMacroParameters();
        EndTag();
        var body = ParseBody(["endmacro"], out _);
        SkipName(name);
        EndTag();
        return new MacroNode(name, parameters, body, begin.Position);
    }

    private List<MacroParameter> ParseMacroParameters()
    {
        var parameters = new List<MacroParameter>();
        if (!SkipOperator("(")) return parameters;
        while (!SkipOperator(")"))
        {
            if (parameters.Count > 0) ExpectOperator(",");
            if (SkipOperator(")")) break;
            string parameter = Expect(TokenKind.Name, "a parameter name").Value;
            Expr? defaultValue = SkipOperator("=") ? ParseExpression() : null;
            parameters.Add(new MacroParameter(parameter, defaultValue));
        }
        return parameters;
    }

    private CallBlockNode ParseCallBlock(Token begin)
    {
        var callerParameters = Current.IsOperator("(") ? ParseMacroParameters() : [];
        Expr call = ParseExpression();
        if (call is not Call callExpr) throw Error("expected a macro call after 'call'", Current);
        EndTag();
        var body = ParseBody(["endcall"], out _);
        EndTag();
        return new CallBlockNode(callExpr, callerParameters, body, begin.Position);
    }

    private FilterBlockNode ParseFilterBlock(Token begin)
    {
        FilterExpr filter = ParseFilter(null);
        while (SkipOperator("|")) filter = ParseFilter(filter);
        EndTag();
        var body = ParseBody(["endfilter"], out _);
        EndTag();
        return new FilterBlockNode(filter, body, begin.Position);
    }
}
