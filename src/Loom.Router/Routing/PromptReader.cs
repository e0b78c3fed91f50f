using System.Text;
using System.Text.Json;
using Loom.ChatTemplates;
using Loom.Engine.ChatClient;
using Loom.Tokenizers;

namespace Loom.Router.Routing;

/// <summary>
/// A request body to the prompt's token ids as a Loom replica computes them: chat messages rendered with the model's
/// chat template (add_generation_prompt, continue_final_message) and encoded without special tokens; a completions
/// prompt encoded with add_special_tokens (default true), or taken as given when it is token ids. Routing only: a body
/// the router cannot read yields null and is routed on load alone; the replica then answers it (with its own error if
/// it is bad), so the router never refuses what a replica would accept.
/// </summary>
public sealed class PromptReader(ITokenizer tokenizer, IChatTemplate? chatTemplate)
{
    private readonly ChatPrompt _chat = new(tokenizer, chatTemplate);

    /// <summary>Loads the tokenizer and chat template of a model directory (tokenizer.json, tokenizer_config.json).</summary>
    public static PromptReader FromModelDirectory(string directory)
    {
        var tokenizer = HfTokenizer.FromDirectory(directory);
        var template = tokenizer.Config.ChatTemplate is { } source ? new JinjaChatTemplate(source) : null;
        return new PromptReader(tokenizer, template);
    }

    /// <summary>The prompt tokens and cache_salt of a chat or completions body, or null when they cannot be known.</summary>
    public (int[] Tokens, string? CacheSalt)? Read(string path, ReadOnlySpan<byte> body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body.ToArray());
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return null;
            string? salt = root.TryGetProperty("cache_salt", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            int[]? tokens = path switch
            {
                "/v1/chat/completions" => ChatTokens(root),
                "/v1/completions" => CompletionTokens(root),
                _ => null,
            };
            return tokens is null ? null : (tokens, salt);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            return null; // the replica will say what is wrong with it
        }
    }

    private int[]? ChatTokens(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out var list) || list.ValueKind != JsonValueKind.Array) return null;
        var messages = new List<ChatMessage>();
        foreach (var m in list.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String) return null;
            messages.Add(new ChatMessage(role.GetString()!, m.TryGetProperty("content", out var c) ? ContentText(c) : null));
        }
        bool addGenerationPrompt = Flag(root, "add_generation_prompt") ?? true;
        bool continueFinal = Flag(root, "continue_final_message") ?? false;
        return tokenizer.Encode(_chat.Render(messages, addGenerationPrompt, continueFinal), addSpecialTokens: false);
    }

    private int[]? CompletionTokens(JsonElement root)
    {
        if (!root.TryGetProperty("prompt", out var prompt)) return null;
        if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() > 0)
            prompt = prompt[0]; // a batch: route on its first prompt (they usually share a prefix)
        if (prompt.ValueKind == JsonValueKind.String)
            return tokenizer.Encode(prompt.GetString()!, Flag(root, "add_special_tokens") ?? true);
        if (prompt.ValueKind == JsonValueKind.Number)
            return [.. root.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32())];
        if (prompt.ValueKind == JsonValueKind.Array)
            return [.. prompt.EnumerateArray().Select(e => e.GetInt32())];
        return null;
    }

    /// <summary>A string, or text parts joined by newlines, as the replica's ChatMessages reads content.</summary>
    private static string? ContentText(JsonElement content)
    {
        if (content.ValueKind == JsonValueKind.String) return content.GetString();
        if (content.ValueKind != JsonValueKind.Array) return null;
        var text = new StringBuilder();
        int index = 0;
        foreach (var part in content.EnumerateArray())
        {
            if (index++ > 0) text.Append('\n');
            text.Append(part.GetProperty("text").GetString());
        }
        return text.ToString();
    }

    private static bool? Flag(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;
}
