namespace Loom.ChatTemplates.Jinja;

/// <summary>The template text after Jinja's source preprocessing, plus position-to-line/column mapping for error messages.</summary>
internal sealed class TemplateSource
{
    public string Text { get; }

    public TemplateSource(string source)
    {
        // keep_trailing_newline=False: Jinja drops exactly one trailing newline of the source.
        if (source.EndsWith("\r\n", StringComparison.Ordinal)) source = source[..^2];
        else if (source.EndsWith('\n') || source.EndsWith('\r')) source = source[..^1];
        Text = source;
    }

    public string Describe(int position)
    {
        position = Math.Clamp(position, 0, Text.Length);
        int line = 1, lineStart = 0;
        for (int i = 0; i < position; i++)
        {
            if (Text[i] != '\n') continue;
            line++;
            lineStart = i + 1;
        }
        return $"line {line}, column {position - lineStart + 1}";
    }

    public ChatTemplateException Error(string message, int position) =>
        new($"Chat template syntax error at {Describe(position)}: {message}");
}
