using CsCheck;

namespace Loom.ChatTemplates.Tests;

/// <summary>Random token soup must parse-or-fail and render-or-fail with a ChatTemplateException, never anything else.</summary>
public sealed class JinjaRobustnessProperties
{
    private static readonly string[] Fragments =
    [
        "{{", "}}", "{%", "%}", "{#", "#}", "{{-", "-}}", "{%-", "-%}", "{%+", " ", "\n", "text",
        "if", "elif", "else", "endif", "for", "endfor", "in", "not", "and", "or", "is", "defined", "set", "macro", "endmacro",
        "namespace(", "ns.x", "=", "==", "(", ")", "[", "]", "{", "}", ",", ":", ".", "|", "~", "+", "-", "*", "/", "//", "%", "**",
        "x", "messages", "loop.index", "range(", "3", "-1", "2.5", "'s'", "\"q\"", "none", "true", "tojson", "trim", "length",
        "raise_exception(", "break", "continue", "raw", "endraw", "[::-1]", "items()", "m.role",
    ];

    [Fact]
    public void ArbitraryTemplatesFailOnlyWithChatTemplateException()
    {
        var input = new ChatTemplateInput([new ChatMessage("user", "hi"), new ChatMessage("assistant", "yo")])
        {
            BosToken = "<s>",
            Extra = new Dictionary<string, object?> { ["x"] = new List<object?> { 1, "a", null } },
        };
        Gen.Int[0, Fragments.Length - 1].Select(i => Fragments[i]).Array[1, 40].Select(parts => string.Join("", parts)).Sample(source =>
        {
            try
            {
                new JinjaChatTemplate(source).Render(input);
            }
            catch (ChatTemplateException)
            {
                // expected for most random inputs
            }
        }, iter: 3000);
    }

    [Fact]
    public void WellFormedRandomExpressionsRender()
    {
        // Arithmetic over small ints always renders a number (or a clean division-by-zero error).
        var atom = Gen.Int[-5, 5].Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        string[] operators = ["+", "-", "*", "//", "%", "/"];
        var op = Gen.Int[0, operators.Length - 1].Select(i => operators[i]);
        Gen.Select(atom, Gen.Select(op, atom).Array[0, 6]).Sample((first, rest) =>
        {
            string expression = first + string.Concat(rest.Select(p => " " + p.Item1 + " " + p.Item2));
            try
            {
                string rendered = new JinjaChatTemplate("{{ " + expression + " }}").Render(new ChatTemplateInput([]));
                Assert.True(double.TryParse(rendered, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _)
                    || rendered is "inf" or "-inf" or "nan", $"{expression} rendered '{rendered}'");
            }
            catch (ChatTemplateException e)
            {
                Assert.Contains("by zero", e.Message);
            }
        }, iter: 2000);
    }
}
