namespace Loom.ChatTemplates;

/// <summary>Renders a conversation into the prompt text the model was trained on (a Jinja chat template).</summary>
public interface IChatTemplate
{
    /// <summary>Renders; template errors (including raise_exception) surface as <see cref="ChatTemplateException"/>.</summary>
    string Render(ChatTemplateInput input);
}

/// <summary>What a chat template sees. Values in Tools/Extra are strings, numbers, bools, lists, dictionaries or JsonElements.</summary>
public sealed record ChatTemplateInput(IReadOnlyList<ChatMessage> Messages)
{
    public bool AddGenerationPrompt { get; init; }
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public IReadOnlyList<object?>? Tools { get; init; }
    /// <summary>Further template variables (e.g. date_string, enable_thinking).</summary>
    public IReadOnlyDictionary<string, object?>? Extra { get; init; }
}

/// <summary>A template that failed to parse or render, or called raise_exception. The message is safe to show a user.</summary>
public sealed class ChatTemplateException(string message, Exception? inner = null) : Exception(message, inner);
