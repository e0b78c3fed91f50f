using System.Text.Json;

namespace Loom.Tokenizers;

/// <summary>
/// What transformers reads from tokenizer_config.json that matters to serving: special token strings, whether BOS/EOS
/// are added, and the chat template(s). Missing fields are null.
/// </summary>
public sealed record TokenizerConfig
{
    /// <summary>The default chat template ("default" when the file holds a named list), or null.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Every named chat template (a single string is stored under "default").</summary>
    public IReadOnlyDictionary<string, string> ChatTemplates { get; init; } = new Dictionary<string, string>();

    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public string? PadToken { get; init; }
    public string? UnkToken { get; init; }
    public bool? AddBosToken { get; init; }
    public bool? AddEosToken { get; init; }
    public long? ModelMaxLength { get; init; }
    public string? TokenizerClass { get; init; }

    public static TokenizerConfig Empty { get; } = new();

    /// <summary>Parses tokenizer_config.json text; source names the file in errors.</summary>
    public static TokenizerConfig Parse(string json, string source)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new TokenizerFormatException($"{source}: not valid JSON: {e.Message}", e); }
        using (doc)
        {
            var root = new TokenizerJson(doc.RootElement, source, "$");
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw root.Error("expected a JSON object");
            var templates = ParseChatTemplates(root.Child("chat_template"));
            return new TokenizerConfig
            {
                ChatTemplates = templates,
                ChatTemplate = templates.GetValueOrDefault("default"),
                BosToken = TokenContent(root.Child("bos_token")),
                EosToken = TokenContent(root.Child("eos_token")),
                PadToken = TokenContent(root.Child("pad_token")),
                UnkToken = TokenContent(root.Child("unk_token")),
                AddBosToken = root.Child("add_bos_token").IsNull ? null : root.Child("add_bos_token").Bool(false),
                AddEosToken = root.Child("add_eos_token").IsNull ? null : root.Child("add_eos_token").Bool(false),
                ModelMaxLength = root.Child("model_max_length").Element.ValueKind == JsonValueKind.Number
                    && root.Child("model_max_length").Element.TryGetInt64(out long max) ? max : null,
                TokenizerClass = root.Child("tokenizer_class").Element.ValueKind == JsonValueKind.String
                    ? root.Child("tokenizer_class").String() : null,
            };
        }
    }

    /// <summary>A special token is written either as a string or as an AddedToken object {"content": ...}.</summary>
    private static string? TokenContent(TokenizerJson json) => json.Element.ValueKind switch
    {
        JsonValueKind.String => json.String(),
        JsonValueKind.Object => json.Required("content").String(),
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => throw json.Error("expected a string or {\"content\": ...}"),
    };

    private static Dictionary<string, string> ParseChatTemplates(TokenizerJson json)
    {
        var templates = new Dictionary<string, string>(StringComparer.Ordinal);
        if (json.IsNull) return templates;
        if (json.Element.ValueKind == JsonValueKind.String)
        {
            templates["default"] = json.String();
            return templates;
        }
        foreach (var item in json.Items()) templates[item.Required("name").String()] = item.Required("template").String();
        return templates;
    }
}
