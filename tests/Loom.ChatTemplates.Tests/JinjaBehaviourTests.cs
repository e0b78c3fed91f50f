using System.Text.Json;

namespace Loom.ChatTemplates.Tests;

/// <summary>Inputs, globals, errors, resource limits and thread safety of <see cref="JinjaChatTemplate"/>.</summary>
public sealed class JinjaBehaviourTests
{
    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    }

    private static string Render(string template, ChatTemplateInput? input = null) =>
        new JinjaChatTemplate(template).Render(input ?? new ChatTemplateInput([]));

    private static ChatTemplateException RenderError(string template, ChatTemplateInput? input = null) =>
        Assert.Throws<ChatTemplateException>(() => Render(template, input));

    // ---- inputs as the template sees them ----

    [Fact]
    public void MessagesExposeRoleContentAndExtraFields()
    {
        var message = new ChatMessage("assistant", null)
        {
            Extra = new Dictionary<string, object?>
            {
                ["tool_calls"] = new List<object?> { new Dictionary<string, object?> { ["function"] = new Dictionary<string, object?> { ["name"] = "f" } } },
            },
        };
        string rendered = Render(
            "{{ messages[0].role }}|{{ messages[0].content }}|{{ messages[0].content is none }}|{{ messages[0].tool_calls[0].function.name }}|{{ 'tool_calls' in messages[0] }}|{{ messages[0] | tojson }}",
            new ChatTemplateInput([message]));
        Assert.Equal("assistant|None|True|f|True|{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"function\": {\"name\": \"f\"}}]}", rendered);
    }

    [Fact]
    public void JsonElementInputsKeepIntegerAndFloatApart()
    {
        using var doc = JsonDocument.Parse("""{"i": 1, "f": 1.0, "e": 1e2, "s": "x", "b": true, "n": null, "l": [1, "a"]}""");
        var input = new ChatTemplateInput([]) { Extra = new Dictionary<string, object?> { ["j"] = doc.RootElement } };
        Assert.Equal("1|1.0|100.0|x|True|None|[1, 'a']|5.0",
            Render("{{ j.i }}|{{ j.f }}|{{ j.e }}|{{ j.s }}|{{ j.b }}|{{ j.n }}|{{ j.l }}|{{ j.i / 0.2 }}", input));
    }

    [Fact]
    public void MissingSpecialTokensAreUndefinedAndMissingToolsAreNone()
    {
        Assert.Equal("[]|False|True|True|False", Render("[{{ bos_token }}]|{{ bos_token is defined }}|{{ tools is defined }}|{{ tools is none }}|{{ add_generation_prompt }}"));
    }

    [Fact]
    public void UnsupportedInputTypeNamesTheVariable()
    {
        var input = new ChatTemplateInput([]) { Extra = new Dictionary<string, object?> { ["config"] = new Dictionary<string, object?> { ["clock"] = new object() } } };
        var error = RenderError("{{ config }}", input);
        Assert.Contains("'config.clock'", error.Message);
    }

    // ---- globals and statements with no Python-side equivalent in the language table ----

    [Fact]
    public void StrftimeNowUsesTheInjectedClock()
    {
        var template = new JinjaChatTemplate(
            "{%- if strftime_now is defined %}{%- set date_string = strftime_now('%d %b %Y') %}{%- endif %}{{ date_string }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %-d') }}",
            new FixedClock(new DateTimeOffset(2026, 11, 3, 14, 5, 9, TimeSpan.Zero)));
        Assert.Equal("03 Nov 2026|2026-11-03 14:05:09 Tuesday November 3", template.Render(new ChatTemplateInput([])));
    }

    [Fact]
    public void GenerationBlockRendersItsBody()
    {
        Assert.Equal("a-gen-b", Render("a-{% generation %}gen{% endgeneration %}-b"));
        Assert.Equal("ab", Render("a\n{%- generation -%}\n{%- endgeneration -%}\nb"));
    }

    [Fact]
    public void ListAppendMutatesANamespaceList()
    {
        Assert.Equal("[6, 2, 4]", Render("{% set ns = namespace(xs=[]) %}{% for x in [3, 1, 2] %}{% set _ = ns.xs.append(x * 2) %}{% endfor %}{{ ns.xs }}"));
    }

    [Fact]
    public void RaiseExceptionSurfacesTheTemplateMessage()
    {
        var error = RenderError("{% if messages | length == 0 %}{{ raise_exception('No messages given!') }}{% endif %}");
        Assert.Equal("No messages given!", error.Message);
    }

    // ---- errors: clear messages with positions, never a crash ----

    [Theory]
    [InlineData("line one\n{% if %}", "line 2, column 7")]
    [InlineData("{% for x in items %}no end", "expected '{% else %}' or '{% endfor %}'")]
    [InlineData("{{ 'unterminated }}", "unterminated string literal")]
    [InlineData("{{ 1 + }}", "unexpected '}}'")]
    [InlineData("{% frobnicate %}", "unknown statement 'frobnicate'")]
    [InlineData("{{ a b }}", "expected '}}'")]
    [InlineData("{# never closed", "unterminated comment")]
    [InlineData("{{ x", "missing '}}'")]
    public void SyntaxErrorsThrowFromTheConstructorWithPosition(string template, string expectedFragment)
    {
        var error = Assert.Throws<ChatTemplateException>(() => new JinjaChatTemplate(template));
        Assert.StartsWith("Chat template syntax error at line", error.Message);
        Assert.Contains(expectedFragment, error.Message);
    }

    [Theory]
    [InlineData("ok\n  {{ 1 | nope }}", "line 2, column 10: no filter named 'nope'")]
    [InlineData("{{ foo.bar }}", "'foo' is undefined")]
    [InlineData("{{ 'a' + 1 }}", "unsupported operand type(s) for +: 'str' and 'int'")]
    [InlineData("{{ 1 / 0 }}", "division by zero")]
    [InlineData("{% for x in none %}{% endfor %}", "'NoneType' object is not iterable")]
    [InlineData("{{ x is frob }}", "no test named 'frob'")]
    [InlineData("{% set x.y = 1 %}", "not a namespace()")]
    [InlineData("{{ undefined_function() }}", "'undefined_function' is undefined")]
    [InlineData("{{ {'a': 1} | tojson(indent=2) ~ missing.attr }}", "'missing' is undefined")]
    [InlineData("{{ 9223372036854775807 + 1 }}", "integer overflow")]
    [InlineData("{{ missing | int }}", "'missing' is undefined")]
    public void RuntimeErrorsNameTheProblemAndPosition(string template, string expectedFragment)
    {
        var error = RenderError(template);
        Assert.StartsWith("Chat template error at line", error.Message);
        Assert.Contains(expectedFragment, error.Message);
    }

    [Fact]
    public void LoopIterationsAreCapped()
    {
        var error = RenderError("{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(2) %}{% endfor %}{% endfor %}{% endfor %}");
        Assert.Contains("loop iterations", error.Message);
    }

    [Fact]
    public void UnboundedMacroRecursionIsCapped()
    {
        var error = RenderError("{% macro r(k) %}{{ r(k + 1) }}{% endmacro %}{{ r(0) }}");
        Assert.Contains("nest deeper than", error.Message);
    }

    [Fact]
    public void DeeplyNestedSyntaxIsRejectedNotStackOverflowed()
    {
        string template = "{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}";
        var error = Assert.Throws<ChatTemplateException>(() => new JinjaChatTemplate(template));
        Assert.Contains("nests deeper", error.Message);
    }

    [Fact]
    public void HugeStringsAreRefused()
    {
        Assert.Contains("exceed", RenderError("{{ 'abc' * 100000000 }}").Message);
        Assert.Contains("exceed", RenderError("{% set ns = namespace(s='x' * 1000000) %}{% for i in range(100) %}{{ ns.s }}{% endfor %}").Message);
    }

    // ---- one parsed template, many concurrent renders ----

    [Fact]
    public void ConcurrentRendersOfOneTemplateAreIndependent()
    {
        var template = new JinjaChatTemplate(
            "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}<{{ m.role }}:{{ m.content }}>{% endfor %}{{ ns.n }}");
        var results = new string[200];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var messages = Enumerable.Range(0, i % 7 + 1).Select(k => new ChatMessage("user", $"{i}-{k}")).ToList();
            results[i] = template.Render(new ChatTemplateInput(messages));
        });
        for (int i = 0; i < results.Length; i++)
        {
            int count = i % 7 + 1;
            string expected = string.Concat(Enumerable.Range(0, count).Select(k => $"<user:{i}-{k}>")) + count;
            Assert.Equal(expected, results[i]);
        }
    }
}
