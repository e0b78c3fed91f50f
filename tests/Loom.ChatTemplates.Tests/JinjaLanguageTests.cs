namespace Loom.ChatTemplates.Tests;

/// <summary>
/// Language features one template at a time, against a fixed set of variables. Each expected string is Python jinja2's
/// output for the same template and variables in transformers' configuration (trim_blocks, lstrip_blocks, json.dumps
/// tojson), so the table doubles as a compatibility spec.
/// </summary>
public sealed class JinjaLanguageTests
{
    private static readonly IReadOnlyDictionary<string, object?> Variables = new Dictionary<string, object?>
    {
        ["name"] = "World",
        ["s"] = "  Hello World  ",
        ["n"] = 7,
        ["f"] = 2.5,
        ["items"] = new List<object?> { 3, 1, 2 },
        ["d"] = new Dictionary<string, object?> { ["b"] = 2, ["a"] = 1 },
        ["users"] = new List<object?>
        {
            new Dictionary<string, object?> { ["name"] = "ann", ["age"] = 31, ["active"] = true },
            new Dictionary<string, object?> { ["name"] = "bob", ["age"] = 25, ["active"] = false },
            new Dictionary<string, object?> { ["name"] = "cy", ["age"] = 40, ["active"] = true },
        },
    };

    private static string Render(string template, IReadOnlyList<ChatMessage>? messages = null) =>
        new JinjaChatTemplate(template).Render(new ChatTemplateInput(messages ?? []) { Extra = Variables });

    [Theory]
    // literals, printing as Python's str()
    [InlineData("{{ 'a\\tb' }}|{{ \"it's\" ~ 'x' }}|{{ 'x' 'y' }}", "a\tb|it'sx|xy")]
    [InlineData("{{ true }}{{ none }}{{ False }}{{ True }}{{ None }}", "TrueNoneFalseTrueNone")]
    [InlineData("{{ [1, 'a', none, true] }}|{{ {'a': 1, 'b': [2]} }}|{{ (1, 2) }}|{{ (1,) }}", "[1, 'a', None, True]|{'a': 1, 'b': [2]}|(1, 2)|(1,)")]
    [InlineData("{{ 3.0 }}|{{ 1e3 }}|{{ 2.5e-5 }}|{{ 1.5e16 }}|{{ 0.1 + 0.2 }}", "3.0|1000.0|2.5e-05|1.5e+16|0.30000000000000004")]
    [InlineData("{{ 'a' ~ 1 ~ none ~ true ~ 2.0 }}", "a1NoneTrue2.0")]
    // arithmetic: int vs float division, Python floor/modulo signs
    [InlineData("{{ 1 + 2 * 3 }}|{{ 7 / 2 }}|{{ 4 / 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}|{{ n - 1 }}|{{ f * 2 }}", "7|3.5|2.0|3|-4|2|1024|6|5.0")]
    [InlineData("{{ 3 * 'ab' }}|{{ [1] + [2] }}|{{ 2 * [0] }}{{ (1,) * 2 }}{{ [1] * false }}|{{ 'a' + 'b' }}|{{ \"%s-%d\" % ('a', 3) }}|{{ 'x' % {'k': 1} }}|{{ '%s!' % [1] }}", "ababab|[1, 2]|[0, 0](1, 1)[]|ab|a-3|x|[1]!")]
    [InlineData("{{ 'a' + s | trim + 'b' }}|{{ -3 | abs }}", "aHello Worldb|3")]
    // comparisons, membership, logic
    [InlineData("{{ 1 == 1.0 }}{{ true == 1 }}{{ 'a' != 'b' }}{{ 1 < 2 < 3 }}{{ 3 < 2 < 5 }}", "TrueTrueTrueTrueFalse")]
    [InlineData("{{ 2 in items }} {{ 5 not in items }} {{ 'a' in d }} {{ 'or' in name }}", "True True True True")]
    [InlineData("{{ not n or 1 and 'z' }}|{{ 0 or '' }}|{{ n and 'yes' }}", "z||yes")]
    [InlineData("{{ 'x' if n > 5 else 'y' }}|{{ 'x' if n > 10 }}|", "x||")]
    // undefined, attribute and item access, slicing
    [InlineData("{{ missing }}|{{ missing is defined }}|{{ missing is undefined }}|{{ d.missing }}|{{ d['missing'] is defined }}", "|False|True||False")]
    [InlineData("{{ d['a'] }}{{ d.b }}{{ users[0]['name'] | title }}{{ users[1].age }}", "12Ann25")]
    [InlineData("{{ items[0] }}{{ items[-1] }}{{ items[1:] }}{{ items[::-1] }}{{ items[:-1] }}{{ items[5] is defined }}", "32[1, 2][2, 1, 3][3, 1]False")]
    [InlineData("{{ name[::-1] }}|{{ 'abc'[1] }}|{{ 'héllo' | length }}|{{ '😀ab'[1:] }}|{{ '😀ab' | length }}", "dlroW|b|5|ab|3")]
    // tests
    [InlineData("{{ n is number }}{{ n is integer }}{{ f is float }}{{ name is string }}{{ d is mapping }}{{ items is iterable }}{{ items is sequence }}",
        "TrueTrueTrueTrueTrueTrueTrue")]
    [InlineData("{{ true is boolean }}{{ n is odd }}{{ n is even }}{{ none is none }}{{ n is divisibleby 7 }}{{ true is true }}{{ false is false }}{{ n is not string }}",
        "TrueTrueFalseTrueTrueTrueTrueTrue")]
    [InlineData("{{ name is iterable }}{{ d is iterable }}{{ n is iterable }}{{ name is mapping }}{{ 1 is sameas 1 }}{{ 2 is eq 2 }}{{ 'a' is lower }}", "TrueTrueFalseFalseTrueTrueTrue")]
    [InlineData("{{ 7 | round }}|{{ 0.5 is even }}|{{ 4.0 is even }}|{{ 1[1] }}|{{ false | map('string') | list }}|{{ 9 is divisibleby(3) }}", "7|False|True||[]|True")]
    // loops
    [InlineData("{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}",
        "10TrueFalse332|21FalseFalse321|32FalseTrue310|")]
    [InlineData("{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in items if x > 1 %}{{ x }}{{ loop.index }}{{ loop.length }}{% endfor %}", "empty|312222")]
    [InlineData("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k, v in d | dictsort %}{{ k }}{{ v }}{% endfor %}|{% for k in d %}{{ k }}{% endfor %}", "b=2;a=1;|a1b2|ba")]
    [InlineData("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", "0134")]
    [InlineData("{% for a in [1, 2] %}{% set outer = loop %}{% for b in [1, 2] %}{{ outer.index }}{{ loop.index }} {% endfor %}{% endfor %}", "11 12 21 22 ")]
    [InlineData("{% for x in items %}{{ loop.previtem }}-{{ loop.nextitem }} {{ loop.cycle('a', 'b') }};{% endfor %}", "-1 a;3-2 b;1- a;")]
    [InlineData("{% for c in 'ab' %}{{ c }}{% endfor %}{% for u in users %}{{ u.name[0] }}{% endfor %}", "ababc")]
    // assignment, scoping, namespace
    [InlineData("{% set a = 1 %}{% for x in items %}{% set a = x %}{% endfor %}{{ a }}|{% if true %}{% set b = 2 %}{% endif %}{{ b }}", "1|2")]
    [InlineData("{% for i in range(3) %}{% if i == 1 %}{% set x = 5 %}{% endif %}[{{ x }}]{% endfor %}|{% set y = 1 %}{% for i in range(3) %}{{ y }}{% set y = y + 1 %}{% endfor %}|{{ y }}", "[][5][]|111|1")]
    [InlineData("{% macro m() %}{{ z }}{% endmacro %}{% set z = 3 %}{{ m() }}|{% set w = 1 %}{% macro k() %}{% set w = 2 %}{{ w }}{% endmacro %}{{ k() }}{{ w }}", "3|21")]
    [InlineData("{% set ns = namespace(total=0, seen=false) %}{% for x in items %}{% set ns.total = ns.total + x %}{% set ns.seen = true %}{% endfor %}{{ ns.total }}{{ ns.seen }}", "6True")]
    [InlineData("{% set x %}a{{ n }}b{% endset %}[{{ x }}]|{% set p, q = 1, 2 %}{{ p }}{{ q }}", "[a7b]|12")]
    [InlineData("{% if n < 5 %}a{% elif n < 10 %}b{% else %}c{% endif %}{% if n > 100 %}a{% elif n > 50 %}b{% endif %}", "b")]
    // macros, call blocks, filter blocks
    [InlineData("{% macro greet(who, punct='!') %}Hi {{ who }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }} {{ greet(who='Cy') }}", "Hi Bob! Hi Al? Hi Cy!")]
    [InlineData("{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * fact(k - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}", "120")]
    [InlineData("{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inner{% endcall %}|{% filter upper %}abc{{ n }}{% endfilter %}", "[inner]|ABC7")]
    // string filters
    [InlineData("{{ s | trim }}|{{ name | upper }}|{{ name | lower }}|{{ 'hello wORLD-x(y' | title }}|{{ 'hELLO' | capitalize }}", "Hello World|WORLD|world|Hello World-X(Y|Hello")]
    [InlineData("{{ name | replace('o', '0') }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ '<a href=\"x\">' | e }}|{{ '<a>' | safe }}|{{ 'one two  three' | wordcount }}", "W0rld|bba|&lt;a href=&#34;x&#34;&gt;|<a>|3")]
    [InlineData("{{ \"line1\\nline2\\n\\nline4\" | indent(2) }}|{{ none | string }}|{{ n | string ~ '!' }}", "line1\n  line2\n\n  line4|None|7!")]
    // sequence filters
    [InlineData("{{ items | join(', ') }}|{{ items | first }}|{{ items | last }}|{{ items | length }}|{{ name | count }}|{{ d | length }}|{{ [] | first is defined }}", "3, 1, 2|3|2|3|5|2|False")]
    [InlineData("{{ items | sort }}{{ items | sort(reverse=true) }}{{ [1, 2, 1, 3] | unique | list }}{{ items | reverse | list }}{{ 'abc' | list }}{{ 'abc' | reverse }}", "[1, 2, 3][3, 2, 1][1, 2, 3][2, 1, 3]['a', 'b', 'c']cba")]
    [InlineData("{{ ['b', 'A', 'c'] | sort }}{{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}", "['A', 'b', 'c']['A', 'b', 'c']")]
    [InlineData("{{ '42' | int + 1 }}|{{ '3.5' | float }}|{{ 'x' | int }}|{{ 2.7 | int }}|{{ 3 | float }}|{{ 2.5 | round }}|{{ 2.567 | round(2) }}", "43|3.5|0|2|3.0|2.0|2.57")]
    [InlineData("{{ users | selectattr('active') | map(attribute='name') | join(',') }}|{{ users | rejectattr('active') | map(attribute='name') | list }}", "ann,cy|['bob']")]
    [InlineData("{{ users | selectattr('age', 'gt', 30) | map(attribute='name') | join }}|{{ users | selectattr('name', 'equalto', 'bob') | list | length }}", "anncy|1")]
    [InlineData("{{ users | sort(attribute='age') | map(attribute='name') | join(' ') }}|{{ users | map(attribute='name') | map('upper') | join('/') }}", "bob ann cy|ANN/BOB/CY")]
    [InlineData("{{ items | select('odd') | list }}{{ items | reject('equalto', 1) | list }}{{ [0, 1, '', 'a'] | select | list }}", "[3, 1][3, 2][1, 'a']")]
    [InlineData("{{ items | sum }}|{{ users | sum(attribute='age') }}|{{ items | min }}|{{ items | max }}|{{ [1, 2, 3, 4, 5] | batch(2) | list }}", "6|96|1|3|[[1, 2], [3, 4], [5]]")]
    [InlineData("{{ missing | default('dflt') }}|{{ '' | default('e', true) }}|{{ name | d('x') }}|{{ none | default('n') }}", "dflt|e|World|None")]
    [InlineData("{{ d | items | list }}|{{ d | dictsort(by='value', reverse=true) }}|{{ users[0] | attr('name') }}|{{ users[0] | attr('items') is callable }}", "[('b', 2), ('a', 1)]|[('b', 2), ('a', 1)]||True")]
    // tojson: Python json.dumps separators, ensure_ascii=False, indent
    [InlineData("{{ d | tojson }}|{{ [1, 'é', none, 2.5, true, 1e20] | tojson }}|{{ 'a\"b\\n\\u0001' | tojson }}|{{ {} | tojson }}{{ [] | tojson(indent=2) }}",
        "{\"b\": 2, \"a\": 1}|[1, \"é\", null, 2.5, true, 1e+20]|\"a\\\"b\\n\\u0001\"|{}[]")]
    [InlineData("{{ 'é😀\\u007f' | tojson(ensure_ascii=true) }}|{{ 'é😀' | tojson }}", "\"\\u00e9\\ud83d\\ude00\\u007f\"|\"é😀\"")]
    [InlineData("{{ d | tojson(indent=2) }}|{{ d | tojson(sort_keys=true) }}|{{ d | tojson(separators=(',', ':')) }}", "{\n  \"b\": 2,\n  \"a\": 1\n}|{\"a\": 1, \"b\": 2}|{\"b\":2,\"a\":1}")]
    // str / dict methods
    [InlineData("{{ s.strip() }}|{{ '--a--'.strip('-') }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ name.startswith('Wo') }}|{{ name.endswith(('x', 'ld')) }}", "Hello World|a|Hello World  |  Hello World|True|True")]
    [InlineData("{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a-b-c'.rsplit('-', 1) }}|{{ 'x</think>y'.split('</think>')[-1] }}", "['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|['a-b', 'c']|y")]
    [InlineData("{{ name.upper() }}|{{ name.lower() }}|{{ 'a-b'.replace('-', '+') }}|{{ 'hi {} {x} {{}}'.format(1, x=2) }}|{{ 'ab cd'.title() }}|{{ '-'.join(['a', 'b']) }}|{{ name.find('r') }}", "WORLD|world|a+b|hi 1 2 {}|Ab Cd|a-b|2")]
    [InlineData("{{ d.get('a') }}{{ d.get('z', 0) }}{{ d.get('z') }}{{ d.keys() | list }}{{ d.values() | list }}", "10None['b', 'a'][2, 1]")]
    [InlineData("{{ range(3) | list }}{{ range(1, 10, 3) | list }}{{ range(3, 0, -1) | list }}{{ dict(a=1) }}", "[0, 1, 2][1, 4, 7][3, 2, 1]{'a': 1}")]
    // whitespace control and the trim_blocks / lstrip_blocks behaviour transformers enables
    [InlineData("a  {%- if true -%}  b  {%- endif -%}  c|  {{- ' x ' -}}  |", "abc| x |")]
    [InlineData("<ul>\n    {% if true %}\n    yes\n    {% endif %}\n</ul>", "<ul>\n    yes\n</ul>")]
    [InlineData("{% for x in items %}\n  {{ x }}\n{% endfor %}\n", "  3\n  1\n  2\n")]
    [InlineData("  {%+ if true %}x{% endif +%}\ny", "  x\ny")]
    [InlineData("a {# note #} b\n  {# own line #}\nc {#- trimmed -#}  d", "a  b\ncd")]
    [InlineData("x{% if true %}  y{% endif %}\r\nz\n", "x  yz")]
    [InlineData("{% raw %}{{ x }}{% if %}{% endraw %}|{{ 1 }}", "{{ x }}{% if %}|1")]
    public void RendersLikeJinja(string template, string expected) => Assert.Equal(expected, Render(template));
}
