using System.Globalization;
using System.Text;

namespace Loom.ChatTemplates.Jinja;

/// <summary>
/// Splits template source into text and tag tokens, applying whitespace control the way Jinja does with
/// transformers' settings: <c>trim_blocks=True</c> (drop the first newline after a block or comment tag),
/// <c>lstrip_blocks=True</c> (drop spaces/tabs before a block or comment tag that starts a line),
/// <c>-</c> modifiers (strip all whitespace on that side), <c>+</c> modifiers (disable lstrip/trim for that tag),
/// <c>keep_trailing_newline=False</c> (one trailing newline of the source is dropped) and newline normalisation.
/// </summary>
internal sealed class Lexer
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    private readonly string _src;
    private readonly TemplateSource _source;
    private readonly List<Token> _tokens = [];
    private int _pos;
    private bool _stripNextText;   // previous tag ended with '-'
    private bool _trimNextNewline; // previous block/comment tag ended without '+' (trim_blocks)
    private bool _lineStarting = true;

    private Lexer(TemplateSource source)
    {
        _source = source;
        _src = source.Text;
    }

    public static List<Token> Tokenize(TemplateSource source)
    {
        var lexer = new Lexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private void Run()
    {
        while (_pos <= _src.Length)
        {
            int tagStart = FindTagStart(_pos);
            int textEnd = tagStart < 0 ? _src.Length : tagStart;
            char kind = tagStart < 0 ? '\0' : _src[tagStart + 1];
            char modifier = tagStart >= 0 && tagStart + 2 < _src.Length ? _src[tagStart + 2] : '\0';
            EmitText(_src.AsSpan(_pos, textEnd - _pos), kind, modifier);
            if (tagStart < 0) break;

            _pos = tagStart + 2;
            if (modifier is '-' or '+') _pos++;
            switch (kind)
            {
                case '#': LexComment(tagStart); break;
                case '{': LexTag(TokenKind.VariableBegin, TokenKind.VariableEnd, '}', tagStart); break;
                default: LexTag(TokenKind.BlockBegin, TokenKind.BlockEnd, '%', tagStart); break;
            }
        }
        _tokens.Add(new Token(TokenKind.Eof, "", _src.Length));
    }

    private int FindTagStart(int from)
    {
        for (int i = _src.IndexOf('{', from); i >= 0 && i + 1 < _src.Length; i = _src.IndexOf('{', i + 1))
        {
            char next = _src[i + 1];
            if (next is '{' or '%' or '#') return i;
        }
        return -1;
    }

    /// <summary>Emits the text before a tag after applying the previous tag's trailing and this tag's leading whitespace control.</summary>
    private void EmitText(ReadOnlySpan<char> text, char tagKind, char modifier)
    {
        if (_stripNextText) text = text.TrimStart();
        else if (_trimNextNewline && text.Length > 0 && text[0] == '\n') text = text[1..];
        else if (_trimNextNewline && text.StartsWith("\r\n")) text = text[2..];

        if (modifier == '-')
        {
            text = text.TrimEnd();
        }
        else if (modifier != '+' && tagKind is '%' or '#')
        {
            // lstrip_blocks: drop spaces/tabs between the line start and the tag when nothing else is on that line.
            int lineStart = text.LastIndexOf('\n') + 1;
            if ((lineStart > 0 || _lineStarting) && IsBlank(text[lineStart..])) text = text[..lineStart];
        }

        if (text.Length > 0)
            _tokens.Add(new Token(TokenKind.Text, NormalizeNewlines(text), _pos));
        _stripNextText = false;
        _trimNextNewline = false;
    }

    private static bool IsBlank(ReadOnlySpan<char> s)
    {
        foreach (char c in s)
            if (!char.IsWhiteSpace(c)) return false;
        return true;
    }

    private static string NormalizeNewlines(ReadOnlySpan<char> s) =>
        s.Contains('\r') ? s.ToString().Replace("\r\n", "\n").Replace('\r', '\n') : s.ToString();

    private void LexComment(int tagStart)
    {
        int end = _src.IndexOf("#}", _pos, StringComparison.Ordinal);
        if (end < 0) throw _source.Error("unterminated comment: missing '#}'", tagStart);
        bool strip = end > _pos && _src[end - 1] == '-';
        bool keep = end > _pos && _src[end - 1] == '+';
        _pos = end + 2;
        FinishTag(strip, trim: !keep);
    }

    private void LexTag(TokenKind begin, TokenKind end, char closer, int tagStart)
    {
        _tokens.Add(new Token(begin, begin == TokenKind.BlockBegin ? "{%" : "{{", tagStart));
        int firstInner = _tokens.Count;
        while (true)
        {
            SkipWhitespace();
            if (_pos >= _src.Length)
                throw _source.Error($"unexpected end of template: missing '{closer}}}'", tagStart);
            if (TryLexTagEnd(end, closer)) break;
            _tokens.Add(LexExpressionToken());
        }
        if (begin == TokenKind.BlockBegin && _tokens.Count == firstInner + 2 && _tokens[firstInner].IsName("raw"))
            LexRawBody(tagStart);
    }

    private bool TryLexTagEnd(TokenKind end, char closer)
    {
        char c = _src[_pos];
        int at = _pos;
        bool strip = false, keep = false;
        if ((c == '-' || (c == '+' && closer == '%')) && _pos + 2 < _src.Length && _src[_pos + 1] == closer && _src[_pos + 2] == '}')
        {
            strip = c == '-';
            keep = c == '+';
            _pos++;
        }
        else if (!(c == closer && _pos + 1 < _src.Length && _src[_pos + 1] == '}'))
        {
            return false;
        }
        _pos += 2;
        _tokens.Add(new Token(end, closer + "}", at));
        FinishTag(strip, trim: closer == '%' && !keep);
        return true;
    }

    private void FinishTag(bool strip, bool trim)
    {
        _stripNextText = strip;
        _trimNextNewline = trim;
        // Jinja's line_starting: did the tag's own match (including what trim_blocks/'-' consumed) end with a newline?
        if (strip)
        {
            int p = _pos;
            while (p < _src.Length && char.IsWhiteSpace(_src[p])) p++;
            _lineStarting = p > _pos && _src[p - 1] == '\n';
        }
        else
        {
            _lineStarting = trim && _pos < _src.Length && _src[_pos] == '\n';
        }
    }

    /// <summary>After <c>{% raw %}</c>: everything up to <c>{% endraw %}</c> is literal text.</summary>
    private void LexRawBody(int tagStart)
    {
        int search = _pos;
        while (true)
        {
            int open = _src.IndexOf("{%", search, StringComparison.Ordinal);
            if (open < 0) throw _source.Error("missing '{% endraw %}'", tagStart);
            int p = open + 2;
            char modifier = p < _src.Length ? _src[p] : '\0';
            if (modifier is '-' or '+') p++;
            while (p < _src.Length && char.IsWhiteSpace(_src[p])) p++;
            if (string.CompareOrdinal(_src, p, "endraw", 0, 6) != 0) { search = open + 2; continue; }
            p += 6;
            while (p < _src.Length && char.IsWhiteSpace(_src[p])) p++;
            bool strip = p < _src.Length && _src[p] == '-';
            bool keep = p < _src.Length && _src[p] == '+';
            if (strip || keep) p++;
            if (p + 1 >= _src.Length || _src[p] != '%' || _src[p + 1] != '}') { search = open + 2; continue; }

            EmitText(_src.AsSpan(_pos, open - _pos), '%', modifier);
            _pos = p + 2;
            FinishTag(strip, trim: !keep);
            return;
        }
    }

    private void SkipWhitespace()
    {
        while (_pos < _src.Length && char.IsWhiteSpace(_src[_pos])) _pos++;
    }

    private Token LexExpressionToken()
    {
        int start = _pos;
        char c = _src[_pos];
        if (char.IsAsciiLetter(c) || c == '_')
        {
            while (_pos < _src.Length && (char.IsAsciiLetterOrDigit(_src[_pos]) || _src[_pos] == '_')) _pos++;
            return new Token(TokenKind.Name, _src[start.._pos], start);
        }
        if (char.IsAsciiDigit(c)) return LexNumber(start);
        if (c is '\'' or '"') return LexString(start, c);
        foreach (string op in Operators)
        {
            if (string.CompareOrdinal(_src, _pos, op, 0, op.Length) == 0)
            {
                _pos += op.Length;
                return new Token(TokenKind.Operator, op, start);
            }
        }
        throw _source.Error($"unexpected character '{c}'", start);
    }

    private Token LexNumber(int start)
    {
        SkipDigits();
        bool isFloat = false;
        if (_pos + 1 < _src.Length && _src[_pos] == '.' && char.IsAsciiDigit(_src[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            SkipDigits();
        }
        if (_pos < _src.Length && _src[_pos] is 'e' or 'E')
        {
            int save = _pos++;
            if (_pos < _src.Length && _src[_pos] is '+' or '-') _pos++;
            if (_pos < _src.Length && char.IsAsciiDigit(_src[_pos])) { isFloat = true; SkipDigits(); }
            else _pos = save;
        }
        string text = _src[start.._pos].Replace("_", "");
        if (isFloat)
            return new Token(TokenKind.Float, text, start, double.Parse(text, CultureInfo.InvariantCulture));
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            throw _source.Error($"integer literal {text} is too large", start);
        return new Token(TokenKind.Integer, text, start, value);
    }

    private void SkipDigits()
    {
        while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || (_src[_pos] == '_' && _pos + 1 < _src.Length && char.IsAsciiDigit(_src[_pos + 1]))))
            _pos++;
    }

    /// <summary>String literal with Python escape sequences (as Jinja decodes them).</summary>
    private Token LexString(int start, char quote)
    {
        var sb = new StringBuilder();
        _pos++;
        while (true)
        {
            if (_pos >= _src.Length) throw _source.Error("unterminated string literal", start);
            char c = _src[_pos++];
            if (c == quote) break;
            if (c != '\\') { sb.Append(c); continue; }
            if (_pos >= _src.Length) throw _source.Error("unterminated string literal", start);
            char e = _src[_pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case 'a': sb.Append('\a'); break;
                case '0': sb.Append('\0'); break;
                case '\n': break; // line continuation
                case 'x': sb.Append(ReadHexEscape(2, start)); break;
                case 'u': sb.Append(ReadHexEscape(4, start)); break;
                case 'U': sb.Append(ReadHexEscape(8, start)); break;
                default: sb.Append('\\').Append(e); break; // Python keeps unknown escapes verbatim
            }
        }
        string value = NormalizeNewlines(sb.ToString());
        return new Token(TokenKind.String, value, start, value);
    }

    private string ReadHexEscape(int digits, int literalStart)
    {
        if (_pos + digits > _src.Length ||
            !int.TryParse(_src.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code) ||
            code > 0x10FFFF)
            throw _source.Error("invalid escape sequence in string literal", literalStart);
        _pos += digits;
        return char.ConvertFromUtf32(code);
    }
}
