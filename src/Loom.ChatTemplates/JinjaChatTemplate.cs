using Loom.ChatTemplates.Jinja;

namespace Loom.ChatTemplates;

/// <summary>
/// A Hugging Face chat template (Jinja source from tokenizer_config.json), rendered the way transformers'
/// <c>apply_chat_template</c> does: trim_blocks and lstrip_blocks on, transformers' tojson, raise_exception and
/// strftime_now globals, loop controls and the generation block. Parsed once in the constructor; <see cref="Render"/>
/// keeps all state per call, so one instance is safe to use from many threads.
/// </summary>
public sealed class JinjaChatTemplate : IChatTemplate
{
    private readonly TemplateSource _source;
    private readonly IReadOnlyList<Node> _body;
    private readonly TimeProvider _time;

    /// <param name="source">The template text.</param>
    /// <param name="time">Clock for <c>strftime_now</c> (defaults to the system clock; tests pass a fixed one).</param>
    /// <exception cref="ChatTemplateException">The template has a syntax error (the message gives line and column).</exception>
    public JinjaChatTemplate(string source, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = new TemplateSource(source);
        try
        {
            _body = Parser.Parse(_source);
        }
        catch (Exception e) when (e is not ChatTemplateException and not OutOfMemoryException)
        {
            throw new ChatTemplateException($"Chat template syntax error: {e.GetType().Name}: {e.Message}", e);
        }
        _time = time ?? TimeProvider.System;
        Source = source;
    }

    /// <summary>The template text (tool-call parsers are picked by what it tells the model).</summary>
    public string Source { get; }

    public string Render(ChatTemplateInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var renderer = new Renderer(CreateContext(input), _time);
        try
        {
            return renderer.Render(_body);
        }
        catch (JinjaError e)
        {
            throw new ChatTemplateException($"Chat template error at {_source.Describe(e.Position)}: {e.Message}", e);
        }
        catch (InsufficientExecutionStackException e)
        {
            throw new ChatTemplateException("Chat template error: template recursion is too deep", e);
        }
        catch (Exception e) when (e is not ChatTemplateException and not OutOfMemoryException)
        {
            // A template construct this interpreter mishandles must still surface as a template error, not a server fault.
            throw new ChatTemplateException($"Chat template error: {e.GetType().Name}: {e.Message}", e);
        }
    }

    /// <summary>The variables transformers passes: messages, tools (None when absent), add_generation_prompt, special tokens, extras.</summary>
    private Scope CreateContext(ChatTemplateInput input)
    {
        var context = new Scope(Globals.Create(_time));
        if (input.Messages is null) throw new ChatTemplateException("Chat template input 'messages' is null");
        var messages = new List<object?>(input.Messages.Count);
        for (int i = 0; i < input.Messages.Count; i++) messages.Add(ValueConverter.FromMessage(input.Messages[i], $"messages[{i}]"));
        context.Set("messages", messages);
        context.Set("tools", input.Tools is null ? null : ValueConverter.Convert(input.Tools, "tools"));
        context.Set("documents", null);
        context.Set("add_generation_prompt", input.AddGenerationPrompt);
        if (input.BosToken != null) context.Set("bos_token", input.BosToken);
        if (input.EosToken != null) context.Set("eos_token", input.EosToken);
        if (input.Extra != null)
            foreach (var (name, value) in input.Extra) context.Set(name, ValueConverter.Convert(value, name));
        return context;
    }
}
