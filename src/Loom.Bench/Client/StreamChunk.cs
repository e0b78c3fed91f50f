using System.Text.Json;

namespace Loom.Bench.Client;

/// <summary>What the benchmark needs from one streamed OpenAI chunk.</summary>
/// <param name="CarriesToken">Whether the chunk counts as a token arrival (TTFT or one ITL gap).</param>
/// <param name="Text">Generated text in the chunk (completions: choices[0].text; chat: choices[0].delta.content).</param>
/// <param name="CompletionTokens">usage.completion_tokens when the chunk carries usage.</param>
/// <param name="Error">The message of an {"error": ...} payload.</param>
public readonly record struct StreamChunk(bool CarriesToken, string? Text, int? CompletionTokens, string? Error)
{
    /// <summary>
    /// Completions: any chunk with a non-empty choices array is a token arrival (vLLM's rule: text may be empty for
    /// special tokens). Chat: likewise, except a chunk whose delta holds only the role and no finish_reason, which some
    /// servers send before the first token; counting it would make TTFT meaningless.
    /// </summary>
    public static StreamChunk Parse(string json, bool chat)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return default;
        if (root.TryGetProperty("error", out var error) && error.ValueKind != JsonValueKind.Null)
            return new StreamChunk(false, null, null, error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var m) ? m.ToString() : error.ToString());
        int? completionTokens = root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object
            && usage.TryGetProperty("completion_tokens", out var ct) && ct.TryGetInt32(out int n) ? n : null;
        if (!root.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array || choices.GetArrayLength() == 0)
            return new StreamChunk(false, null, completionTokens, null);
        var choice = choices[0];
        if (!chat)
            return new StreamChunk(true, StringOrNull(choice, "text"), completionTokens, null);
        string? content = choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object ? StringOrNull(delta, "content") : null;
        bool finished = choice.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String;
        bool roleOnly = string.IsNullOrEmpty(content) && !finished;
        return new StreamChunk(!roleOnly, content, completionTokens, null);
    }

    private static string? StringOrNull(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
