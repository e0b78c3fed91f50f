using Loom.ChatTemplates;
using Loom.Tokenizers;

namespace Loom.Engine.ChatClient;

/// <summary>
/// Renders a conversation with the model's chat template, the first half of transformers'
/// apply_chat_template(tokenize=True); <see cref="Input.InputProcessor.EncodeChat"/> encodes the text (without adding
/// special tokens: the template writes BOS and the role markers), so every front end builds identical prompts.
/// </summary>
public sealed class ChatPrompt(ITokenizer tokenizer, IChatTemplate? template)
{
    /// <summary>Roles a chat request may use (OpenAI's, plus "developer" which is rendered as "system").</summary>
    public static IReadOnlySet<string> KnownRoles { get; } = new HashSet<string>(StringComparer.Ordinal)
        { "system", "developer", "user", "assistant", "tool" };

    public bool HasTemplate => template is not null;

    /// <summary>Renders the conversation; throws <see cref="ChatPromptException"/> naming the offending field.</summary>
    /// <param name="tools">The tools as transformers passes them ({type: function, function: {...}}); null = none.</param>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, bool continueFinalMessage = false,
        IReadOnlyList<object?>? tools = null)
    {
        Validate(messages);
        if (template is null)
            throw new ChatPromptException("The model has no chat template; use the completions API with a plain prompt.", "messages");
        var normalized = messages.Select(m => m.Role == "developer" ? m with { Role = "system" } : m).ToList();
        try
        {
            var text = template.Render(new ChatTemplateInput(normalized)
            {
                AddGenerationPrompt = addGenerationPrompt && !continueFinalMessage,
                BosToken = tokenizer.BosToken,
                EosToken = tokenizer.EosToken,
                Tools = tools,
            });
            return continueFinalMessage ? TrimAfterFinalMessage(text, normalized[^1].Content ?? "") : text;
        }
        catch (ChatTemplateException e)
        {
            throw new ChatPromptException("Chat template error: " + e.Message, "messages", e);
        }
    }

    private static void Validate(IReadOnlyList<ChatMessage> messages)
    {
        if (messages.Count == 0)
            throw new ChatPromptException("messages must hold at least one message.", "messages");
        for (int i = 0; i < messages.Count; i++)
        {
            var role = messages[i].Role;
            if (string.IsNullOrEmpty(role))
                throw new ChatPromptException($"messages[{i}].role is required.", $"messages[{i}].role");
            if (!KnownRoles.Contains(role))
                throw new ChatPromptException(
                    $"messages[{i}].role '{role}' is not one of {string.Join(", ", KnownRoles)}.", $"messages[{i}].role");
        }
    }

    /// <summary>continue_final_message: the prompt ends right after the last message's content (no end-of-turn marker).</summary>
    private static string TrimAfterFinalMessage(string rendered, string finalContent)
    {
        if (finalContent.Length == 0) return rendered;
        int at = rendered.LastIndexOf(finalContent, StringComparison.Ordinal);
        return at < 0 ? rendered : rendered[..(at + finalContent.Length)];
    }
}

/// <summary>
/// A conversation that cannot be turned into a prompt: an ArgumentException (the input vocabulary, see
/// <see cref="Input.InputProcessor"/>) whose ParamName, also <see cref="Param"/>, names the request field. The message
/// names the field itself, so it carries no "(Parameter ...)" suffix.
/// </summary>
public sealed class ChatPromptException : ArgumentException
{
    private readonly string _message;

    public ChatPromptException(string message, string param, Exception? inner = null) : base(message, param, inner)
    {
        _message = message;
        Param = param;
    }

    public string Param { get; }

    public override string Message => _message;
}
