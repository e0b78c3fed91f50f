using System.Globalization;
using System.Text;
using Loom.Grammar.Ast;

namespace Loom.Grammar.Frontends;

/// <summary>
/// llama.cpp's GBNF: `name ::= alternatives` rules, "literals", [classes], [^negated], '.', (groups), and the
/// quantifiers * + ? {m} {m,} {m,n}; # comments. The root rule is "root". Token references (&lt;...&gt;, &lt;[id]&gt;)
/// are not supported and are reported as such; left recursion is reported by the compiler.
/// </summary>
public sealed class GbnfParser
{
    private readonly string _src;
    private int _pos;
    private readonly GrammarDefinition _grammar = new();

    private GbnfParser(string src) => _src = src;

    public static GrammarDefinition Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var p = new GbnfParser(text);
        p.ParseRules();
        if (!p._grammar.Rules.ContainsKey("root")) throw new GrammarException("GBNF: the grammar has no 'root' rule", "grammar");
        return p._grammar;
    }

    private void ParseRules()
    {
        SkipSpace(newlines: true);
        while (_pos < _src.Length)
        {
            string name = ParseName();
            SkipSpace(newlines: false);
            if (!TryEat("::=")) throw Error($"expected '::=' after rule name '{name}'");
            SkipSpace(newlines: true);
            if (_grammar.Rules.ContainsKey(name)) throw Error($"rule '{name}' is defined twice");
            _grammar.Define(name, ParseAlternatives(nested: false));
            if (_pos < _src.Length && _src[_pos] is not ('\n' or '\r')) throw Error($"unexpected '{_src[_pos]}'");
            SkipSpace(newlines: true);
        }
    }

    private GrammarExpr ParseAlternatives(bool nested)
    {
        var options = new List<GrammarExpr> { ParseSequence(nested) };
        while (_pos < _src.Length && _src[_pos] == '|')
        {
            _pos++;
            SkipSpace(newlines: true);
            options.Add(ParseSequence(nested));
        }
        return Expr.Or(options);
    }

    private GrammarExpr ParseSequence(bool nested)
    {
        var items = new List<GrammarExpr>();
        while (_pos < _src.Length && _src[_pos] is not ('|' or ')' or '\n' or '\r'))
        {
            items.Add(ParseQuantifiers(ParseItem()));
            SkipSpace(newlines: nested);
        }
        return Expr.Seq(items);
    }

    private GrammarExpr ParseItem()
    {
        char c = _src[_pos];
        switch (c)
        {
            case '"':
                _pos++;
                return ParseLiteral();
            case '[':
                _pos++;
                return Expr.Chars(ParseClass());
            case '.':
                _pos++;
                return Expr.Chars(CodePointSet.Any);
            case '(':
                _pos++;
                SkipSpace(newlines: true);
                var inner = ParseAlternatives(nested: true);
                if (!TryEat(")")) throw Error("missing ')'");
                return inner;
            case '<':
                throw Error("token references (<...>) are not supported");
            default:
                if (IsNameChar(c)) return Expr.Ref(ParseName());
                throw Error($"unexpected '{c}'");
        }
    }

    private GrammarExpr ParseQuantifiers(GrammarExpr item)
    {
        while (_pos < _src.Length)
        {
            char c = _src[_pos];
            if (c == '*') item = Expr.Star(item);
            else if (c == '+') item = Expr.Plus(item);
            else if (c == '?') item = Expr.Optional(item);
            else if (c == '{') { item = ParseBraces(item); continue; }
            else return item;
            _pos++;
        }
        return item;
    }

    private GrammarExpr ParseBraces(GrammarExpr item)
    {
        _pos++;
        SkipSpace(newlines: false);
        int min = ParseInt();
        int max = min;
        SkipSpace(newlines: false);
        if (TryEat(","))
        {
            SkipSpace(newlines: false);
            max = _pos < _src.Length && char.IsAsciiDigit(_src[_pos]) ? ParseInt() : RepeatExpr.Unbounded;
            SkipSpace(newlines: false);
        }
        if (!TryEat("}")) throw Error("missing '}' in repetition");
        if (max != RepeatExpr.Unbounded && max < min) throw Error($"repetition {{{min},{max}}} has max below min");
        if (Math.Max(min, max) > 10_000) throw Error("repetition counts above 10000 are not supported");
        return Expr.Repeat(item, min, max);
    }

    private int ParseInt()
    {
        int start = _pos;
        while (_pos < _src.Length && char.IsAsciiDigit(_src[_pos])) _pos++;
        if (_pos == start || !int.TryParse(_src.AsSpan(start, _pos - start), out int n)) throw Error("expected a number");
        return n;
    }

    private GrammarExpr ParseLiteral()
    {
        var text = new StringBuilder();
        while (true)
        {
            if (_pos >= _src.Length || _src[_pos] is '\n' or '\r') throw Error("unterminated string literal");
            char c = _src[_pos];
            if (c == '"') { _pos++; break; }
            text.Append(char.ConvertFromUtf32(ParseChar()));
        }
        return Expr.Lit(text.ToString());
    }

    private CodePointSet ParseClass()
    {
        bool negate = TryEat("^");
        var set = CodePointSet.Of([]);
        while (true)
        {
            if (_pos >= _src.Length) throw Error("missing ']'");
            if (_src[_pos] == ']') { _pos++; break; }
            int lo = ParseChar(), hi = lo;
            if (_pos + 1 < _src.Length && _src[_pos] == '-' && _src[_pos + 1] != ']')
            {
                _pos++;
                hi = ParseChar();
                if (hi < lo) throw Error("class range out of order");
            }
            set = set.Union(CodePointSet.Range(lo, hi));
        }
        return negate ? set.Complement() : set;
    }

    /// <summary>One character of a literal or class, escapes decoded.</summary>
    private int ParseChar()
    {
        char c = _src[_pos++];
        if (c != '\\')
        {
            if (char.IsHighSurrogate(c) && _pos < _src.Length && char.IsLowSurrogate(_src[_pos])) return char.ConvertToUtf32(c, _src[_pos++]);
            return c;
        }
        if (_pos >= _src.Length) throw Error("trailing backslash");
        char e = _src[_pos++];
        return e switch
        {
            'n' => '\n', 'r' => '\r', 't' => '\t', '\\' => '\\', '"' => '"', '[' => '[', ']' => ']', '-' => '-', '^' => '^',
            'x' => Hex(2), 'u' => Hex(4), 'U' => Hex(8),
            _ => throw Error($"unknown escape '\\{e}'"),
        };
    }

    private int Hex(int digits)
    {
        if (_pos + digits > _src.Length || !int.TryParse(_src.AsSpan(_pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int v))
            throw Error("bad hex escape");
        _pos += digits;
        if (v > CodePointSet.MaxCodePoint) throw Error("code point out of range");
        return v;
    }

    private string ParseName()
    {
        int start = _pos;
        while (_pos < _src.Length && IsNameChar(_src[_pos])) _pos++;
        if (_pos == start) throw Error("expected a rule name");
        return _src[start.._pos];
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_';

    private void SkipSpace(bool newlines)
    {
        while (_pos < _src.Length)
        {
            char c = _src[_pos];
            if (c == '#') while (_pos < _src.Length && _src[_pos] is not ('\n' or '\r')) _pos++;
            else if (c is ' ' or '\t' || (newlines && c is '\n' or '\r')) _pos++;
            else break;
        }
    }

    private bool TryEat(string s)
    {
        if (string.CompareOrdinal(_src, _pos, s, 0, s.Length) != 0) return false;
        _pos += s.Length;
        return true;
    }

    private GrammarException Error(string what)
    {
        int line = 1 + _src.AsSpan(0, Math.Min(_pos, _src.Length)).Count('\n');
        return new GrammarException($"GBNF line {line}: {what}", "grammar");
    }
}
