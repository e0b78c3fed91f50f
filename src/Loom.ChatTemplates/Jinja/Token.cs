namespace Loom.ChatTemplates.Jinja;

internal enum TokenKind
{
    Text,
    VariableBegin, // {{
    VariableEnd,   // }}
    BlockBegin,    // {%
    BlockEnd,      // %}
    Name,
    String,
    Integer,
    Float,
    Operator,
    Eof,
}

/// <summary>One lexed token. <see cref="Position"/> is the character offset in the template source (for error messages).</summary>
internal readonly record struct Token(TokenKind Kind, string Value, int Position, object? Literal = null)
{
    public bool IsOperator(string op) => Kind == TokenKind.Operator && Value == op;
    public bool IsName(string name) => Kind == TokenKind.Name && Value == name;

    public override string ToString() => Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.VariableEnd => "'}}'",
        TokenKind.BlockEnd => "'%}'",
        TokenKind.Text => "template text",
        _ => $"'{Value}'",
    };
}
