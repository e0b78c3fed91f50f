using System.Globalization;
using Loom.Grammar.Ast;

namespace Loom.Grammar.Frontends;

/// <summary>
/// A regular expression (the ECMAScript/PCRE subset that JSON Schema patterns and vLLM's guided regex use) turned
/// into a grammar expression. Supported: literals, escapes (\d \w \s and negations, \t \n \r \f \v \0 \xHH \uHHHH),
/// classes, '.', groups (capturing, non-capturing, named), '|', quantifiers * + ? {n} {n,} {n,m} (lazy forms match
/// the same language), '^' at the start and '$' at the end. Lookaround, backreferences, word boundaries and
/// Unicode property classes are errors naming the construct.
/// </summary>
public sealed class RegexParser
{
    private readonly int[] _cps;
    private readonly string _pattern;
    private readonly Func<CodePointSet, GrammarExpr> _encode;
    private int _pos;

    private RegexParser(string pattern, Func<CodePointSet, GrammarExpr> encode)
    {
        _pattern = pattern;
        _cps = [.. CodePoints(pattern)];
        _encode = encode;
    }

    /// <summary>Whole-output regex: the output must match it entirely.</summary>
    public static GrammarExpr ParseAnchored(string pattern) => Parse(pattern, Expr.Chars, anchoredByDefault: true);

    /// <param name="encode">How a set of characters is written (raw UTF-8, or escaped inside a JSON string).</param>
    /// <param name="anchoredByDefault">False for JSON Schema's `pattern`, which may match anywhere unless anchored.</param>
    public static GrammarExpr Parse(string pattern, Func<CodePointSet, GrammarExpr> encode, bool anchoredByDefault)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var p = new RegexParser(pattern, encode);
        bool startAnchor = p.Eat('^');
        var body = p.ParseAlternation();
        bool endAnchor = p.Eat('$');
        if (p._pos < p._cps.Length) throw p.Error(p.Peek() == ')' ? "unbalanced ')'" : $"unexpected '{char.ConvertFromUtf32(p.Peek())}'");
        var anyText = Expr.Star(encode(CodePointSet.Any));
        var items = new List<GrammarExpr>();
        if (!startAnchor && !anchoredByDefault) items.Add(anyText);
        items.Add(body);
        if (!endAnchor && !anchoredByDefault) items.Add(anyText);
        return Expr.Seq(items);
    }

    private GrammarExpr ParseAlternation()
    {
        var options = new List<GrammarExpr> { ParseSequence() };
        while (Eat('|')) options.Add(ParseSequence());
        return Expr.Or(options);
    }

    private GrammarExpr ParseSequence()
    {
        var items = new List<GrammarExpr>();
        while (_pos < _cps.Length && Peek() != '|' && Peek() != ')')
        {
            if (Peek() == '$' && _pos == _cps.Length - 1) break;
            items.Add(ParseQuantified(ParseAtom()));
        }
        return items.Count == 1 ? items[0] : new SequenceExpr(items);
    }

    private GrammarExpr ParseQuantified(GrammarExpr atom)
    {
        while (_pos < _cps.Length)
        {
            int min, max;
            if (Eat('*')) (min, max) = (0, RepeatExpr.Unbounded);
            else if (Eat('+')) (min, max) = (1, RepeatExpr.Unbounded);
            else if (Eat('?')) (min, max) = (0, 1);
            else if (Peek() == '{' && TryParseBraces(out min, out max)) { }
            else return atom;
            if (Eat('+')) throw Error("possessive quantifiers are not supported");
            Eat('?'); // lazy: same language
            atom = Expr.Repeat(atom, min, max);
        }
        return atom;
    }

    private bool TryParseBraces(out int min, out int max)
    {
        int save = _pos;
        _pos++;
        min = ReadNumber();
        max = min;
        if (min >= 0 && Eat(','))
        {
            max = ReadNumber();
            if (max < 0) max = RepeatExpr.Unbounded;
        }
        if (min < 0 || !Eat('}'))
        {
            _pos = save; // a literal '{'
            return false;
        }
        if (max != RepeatExpr.Unbounded && max < min) throw Error($"repetition {{{min},{max}}} has max below min");
        if (Math.Max(min, max) > 10_000) throw Error("repetition counts above 10000 are not supported");
        return true;
    }

    private int ReadNumber()
    {
        int start = _pos, value = 0;
        while (_pos < _cps.Length && Peek() is >= '0' and <= '9' && value < 1_000_000) value = value * 10 + (_cps[_pos++] - '0');
        return _pos == start ? -1 : value;
    }

    private GrammarExpr ParseAtom()
    {
        int c = _cps[_pos++];
        switch (c)
        {
            case '(':
                ParseGroupPrefix();
                var inner = ParseAlternation();
                if (!Eat(')')) throw Error("missing ')'");
                return inner;
            case '[': return _encode(ParseClass());
            case '.': return _encode(CodePointSet.Any.Minus(CodePointSet.Single('\n')));
            case '\\': return ParseEscapeAtom();
            case '^': throw Error("'^' is supported only at the start of the pattern");
            case '$': throw Error("'$' is supported only at the end of the pattern");
            case '*' or '+' or '?': throw Error($"nothing to repeat before '{(char)c}'");
            default: return _encode(CodePointSet.Single(c));
        }
    }

    private void ParseGroupPrefix()
    {
        if (!Eat('?')) return;
        if (Eat(':')) return;
        if (Peek() == '<' && _pos + 1 < _cps.Length && _cps[_pos + 1] is not ('=' or '!'))
        {
            while (_pos < _cps.Length && _cps[_pos] != '>') _pos++;
            if (!Eat('>')) throw Error("unterminated group name");
            return;
        }
        throw Error("lookaround and inline flags (?...) are not supported");
    }

    private GrammarExpr ParseEscapeAtom()
    {
        if (_pos >= _cps.Length) throw Error("trailing backslash");
        int c = _cps[_pos];
        if (c is >= '1' and <= '9') throw Error("backreferences are not supported");
        if (c is 'b' or 'B') throw Error("word boundaries (\\b, \\B) are not supported");
        if (c is 'A' or 'z' or 'Z' or 'G') throw Error($"the anchor \\{(char)c} is not supported");
        return _encode(ParseEscape(inClass: false));
    }

    /// <summary>After a backslash: the set it stands for.</summary>
    private CodePointSet ParseEscape(bool inClass)
    {
        int c = _cps[_pos++];
        return c switch
        {
            'd' => Digit, 'D' => Digit.Complement(),
            'w' => Word, 'W' => Word.Complement(),
            's' => Space, 'S' => Space.Complement(),
            'n' => CodePointSet.Single('\n'), 't' => CodePointSet.Single('\t'), 'r' => CodePointSet.Single('\r'),
            'f' => CodePointSet.Single('\f'), 'v' => CodePointSet.Single('\v'), '0' => CodePointSet.Single(0),
            'b' when inClass => CodePointSet.Single('\b'),
            'x' => CodePointSet.Single(ReadHex(2)),
            'u' => CodePointSet.Single(ReadHex(4)),
            'p' or 'P' => throw Error("Unicode property classes (\\p, \\P) are not supported"),
            _ when c < 128 && char.IsLetterOrDigit((char)c) => throw Error($"unknown escape \\{(char)c}"),
            _ => CodePointSet.Single(c),
        };
    }

    private int ReadHex(int digits)
    {
        if (_pos + digits > _cps.Length) throw Error("truncated hex escape");
        string hex = string.Concat(_cps.Skip(_pos).Take(digits).Select(char.ConvertFromUtf32));
        if (!int.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int value)) throw Error($"bad hex escape '{hex}'");
        _pos += digits;
        return value;
    }

    private CodePointSet ParseClass()
    {
        bool negate = Eat('^');
        var set = CodePointSet.Of([]);
        bool first = true;
        while (true)
        {
            if (_pos >= _cps.Length) throw Error("missing ']'");
            if (Peek() == ']' && !first) { _pos++; break; }
            first = false;
            var (item, single) = ClassItem();
            if (single >= 0 && Peek() == '-' && _pos + 1 < _cps.Length && _cps[_pos + 1] != ']')
            {
                _pos++;
                var (_, hi) = ClassItem();
                if (hi < 0) throw Error("a class range cannot end in a class escape");
                if (hi < single) throw Error("class range out of order");
                item = CodePointSet.Range(single, hi);
            }
            set = set.Union(item);
        }
        return negate ? set.Complement() : set;
    }

    /// <summary>One class member; Single is its code point when it is one character, else -1.</summary>
    private (CodePointSet Set, int Single) ClassItem()
    {
        int c = _cps[_pos++];
        if (c == '[' && Peek() == ':') throw Error("POSIX classes [:name:] are not supported");
        if (c != '\\') return (CodePointSet.Single(c), c);
        var set = ParseEscape(inClass: true);
        return (set, set.Ranges is [var r] && r.Lo == r.Hi ? r.Lo : -1);
    }

    private static readonly CodePointSet Digit = CodePointSet.Range('0', '9');
    private static readonly CodePointSet Word = CodePointSet.Of([('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_')]);
    private static readonly CodePointSet Space = CodePointSet.Of([(' ', ' '), ('\t', '\r')]);

    private int Peek() => _pos < _cps.Length ? _cps[_pos] : -1;

    private bool Eat(int c)
    {
        if (Peek() != c) return false;
        _pos++;
        return true;
    }

    private GrammarException Error(string what) => new($"regex '{_pattern}': {what}", "pattern");

    private static IEnumerable<int> CodePoints(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                yield return char.ConvertToUtf32(s[i], s[++i]);
            else yield return s[i];
        }
    }
}
