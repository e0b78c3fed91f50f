using System.Collections.Concurrent;
using System.Text.Json;
using Loom.Server.Api;
using Microsoft.Extensions.Logging;

namespace Loom.Server.Endpoints;

/// <summary>
/// Request fields the DTOs do not bind land in their extension data. A field that would change what the model must
/// produce (tools, structured output, ...) is refused with 400 rather than ignored with 200; its harmless spellings
/// (tools: [], tool_choice: "none") are accepted; the structured-output fields are StructuredOutputFields'. Fields that only label a request
/// (user, metadata, store, ...) are accepted; any other unknown field is ignored with a warning logged once, as vLLM does.
/// </summary>
internal static class UnsupportedFields
{
    /// <summary>Fields that change the meaning of a request and that Loom does not implement yet.</summary>
    private static readonly HashSet<string> Refused = new(StringComparer.Ordinal)
    {
        "tools", "tool_choice", "functions", "function_call", "parallel_tool_calls",
        "allowed_token_ids", "bad_words", "truncate_prompt_tokens", "use_beam_search", "length_penalty", "prompt_logprobs",
        "logits_processors", "chat_template", "chat_template_kwargs", "documents", "modalities", "audio", "prediction",
        "reasoning_effort", "web_search_options", "thinking", "echo", "return_tokens_as_token_ids",
    };

    /// <summary>Fields that only label or route a request: accepted and not used.</summary>
    private static readonly HashSet<string> Labels = new(StringComparer.Ordinal)
    {
        "user", "metadata", "store", "service_tier", "request_id", "priority", "spaces_between_special_tokens",
    };

    private static readonly ConcurrentDictionary<string, bool> Warned = new(StringComparer.Ordinal);

    public static void Check(IReadOnlyDictionary<string, JsonElement>? extra, ILogger logger)
    {
        if (extra is null) return;
        foreach (var (name, value) in extra)
        {
            if (value.ValueKind == JsonValueKind.Null || Labels.Contains(name) || StructuredOutputFields.Names.Contains(name)
                || name == KvTransferFields.Name
                || IsHarmless(name, value, extra)) continue;
            if (Refused.Contains(name))
                throw ApiException.BadRequest($"{name} is not supported yet.", name);
            if (Warned.TryAdd(name, true) && Warned.Count < 1000)
                logger.LogWarning("The request field '{Field}' is not supported and is ignored.", name);
        }
    }

    /// <summary>The spellings of a refused field that ask for nothing beyond plain text generation.</summary>
    private static bool IsHarmless(string name, JsonElement value, IReadOnlyDictionary<string, JsonElement> extra) => name switch
    {
        "tools" or "functions" => value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 0,
        "tool_choice" => value.ValueKind == JsonValueKind.String
            && (value.ValueEquals("none") || (value.ValueEquals("auto") && !HasTools(extra))),
        "function_call" => value.ValueKind == JsonValueKind.String && value.ValueEquals("none"),
        "parallel_tool_calls" => !HasTools(extra),
        "echo" => value.ValueKind == JsonValueKind.False,
        _ => false,
    };

    private static bool HasTools(IReadOnlyDictionary<string, JsonElement> extra) =>
        (extra.TryGetValue("tools", out var t) && t.ValueKind == JsonValueKind.Array && t.GetArrayLength() > 0)
        || (extra.TryGetValue("functions", out var f) && f.ValueKind == JsonValueKind.Array && f.GetArrayLength() > 0);
}
