using System.Text.Json;
using Loom.Engine.StructuredOutput;
using Loom.Grammar;
using Loom.Grammar.Frontends;
using Loom.Server.Api;
using Loom.Server.Hosting;

namespace Loom.Server.Endpoints;

/// <summary>
/// The structured-output request fields, read from the DTOs' extension data: OpenAI's <c>response_format</c>, vLLM's
/// <c>structured_outputs</c> and the older <c>guided_*</c> fields, all to one <see cref="StructuredOutputSpec"/>.
/// At most one constraint per request; a bad one (unknown option, invalid schema, unsupported keyword) is a 400
/// naming the field, raised here before anything is queued. Nothing is accepted and ignored: a backend other than
/// Loom's own ("auto" or "loom"), or a JSON spacing option beside a regex, choice or grammar, is a 400 too.
/// </summary>
internal static class StructuredOutputFields
{
    /// <summary>The fields this class reads (UnsupportedFields leaves them alone).</summary>
    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.Ordinal)
    {
        "response_format", "structured_outputs", "guided_json", "guided_regex", "guided_choice", "guided_grammar",
        "guided_whitespace_pattern", "guided_decoding_backend",
    };

    private static readonly HashSet<string> StructuredOutputsOptions = new(StringComparer.Ordinal)
    {
        "json", "regex", "choice", "grammar", "json_object", "disable_any_whitespace", "disable_additional_properties",
        "whitespace_pattern", "backend", "disable_fallback",
    };

    /// <summary>The request's grammar, compiled (masks still compiling on the pool) or null when it asks for none.</summary>
    /// <param name="param">The field it came from (for errors found later), or null.</param>
    public static GrammarCompilation? Compile(ServedModel model, IReadOnlyDictionary<string, JsonElement>? extra, out string? param)
    {
        param = null;
        if (Parse(extra) is not { } spec) return null;
        param = spec.Param;
        try
        {
            return model.Grammars.GetOrCompile(spec.Key, spec.Build);
        }
        catch (GrammarException e)
        {
            throw ApiException.BadRequest($"{spec.Param}: {e.Message}", spec.Param);
        }
    }

    /// <summary>The backends Loom honours: its own grammar engine, by name or as vLLM's default.</summary>
    private static readonly string[] Backends = ["auto", "loom"];

    /// <summary>
    /// Waits for a request's grammar masks (other requests run meanwhile), so that a compilation that fails only then
    /// is a 400 naming the field before any response starts, rather than an error in the middle of a stream.
    /// </summary>
    /// <param name="param">The field the grammar came from (response_format, tool_choice, ...).</param>
    public static async Task AwaitCompiledAsync(GrammarCompilation? grammar, string param, CancellationToken cancellation)
    {
        if (grammar is null) return;
        try
        {
            await grammar.Task.WaitAsync(cancellation);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested)
        {
            throw ApiException.BadRequest($"{param}: the grammar failed to compile: {e.Message}", param);
        }
    }

    public static StructuredOutputSpec? Parse(IReadOnlyDictionary<string, JsonElement>? extra)
    {
        if (extra is null) return null;
        if (Field(extra, "guided_decoding_backend") is { } backend) CheckBackend(backend, "guided_decoding_backend");
        var found = new List<StructuredOutputSpec>();
        if (Field(extra, "response_format") is { } rf && FromResponseFormat(rf) is { } a) found.Add(a);
        if (Field(extra, "structured_outputs") is { } so) found.AddRange(FromStructuredOutputs(so));
        found.AddRange(FromGuided(extra));
        if (found.Count > 1)
            throw ApiException.BadRequest(
                $"Only one output constraint may be given; got {string.Join(", ", found.Select(s => s.Param))}.", found[1].Param);
        return found.Count == 1 ? found[0] : null;
    }

    private static JsonElement? Field(IReadOnlyDictionary<string, JsonElement> extra, string name) =>
        extra.TryGetValue(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static StructuredOutputSpec? FromResponseFormat(JsonElement rf)
    {
        const string param = "response_format";
        if (rf.ValueKind != JsonValueKind.Object || !rf.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            throw ApiException.BadRequest("response_format must be an object with a string 'type'.", param);
        switch (type.GetString())
        {
            case "text": return null;
            case "json_object": return new(StructuredOutputKind.JsonObject, param);
            case "json_schema":
                if (!rf.TryGetProperty("json_schema", out var js) || js.ValueKind != JsonValueKind.Object)
                    throw ApiException.BadRequest("response_format.json_schema must be an object with a 'schema'.", param);
                if (!js.TryGetProperty("schema", out var schema) || schema.ValueKind is not (JsonValueKind.Object or JsonValueKind.True))
                    throw ApiException.BadRequest("response_format.json_schema.schema must be a JSON Schema object.", param);
                // strict or not, the schema is enforced: a constrained answer is what either asks for.
                return new(StructuredOutputKind.JsonSchema, param, schema.GetRawText());
            default:
                throw ApiException.BadRequest(
                    $"response_format.type must be 'text', 'json_object' or 'json_schema', got '{type.GetString()}'.", param);
        }
    }

    private static List<StructuredOutputSpec> FromStructuredOutputs(JsonElement so)
    {
        const string param = "structured_outputs";
        if (so.ValueKind != JsonValueKind.Object)
            throw ApiException.BadRequest("structured_outputs must be an object.", param);
        foreach (var p in so.EnumerateObject())
            if (!StructuredOutputsOptions.Contains(p.Name))
                throw ApiException.BadRequest($"structured_outputs.{p.Name} is not supported.", param);
        if (Property(so, "backend") is { } backend) CheckBackend(backend, "structured_outputs.backend");
        // Loom has one engine and never falls back to another, so either value of disable_fallback holds.
        Bool(so, "disable_fallback", param);
        var options = new JsonGrammarOptions(
            AnyWhitespace: !Bool(so, "disable_any_whitespace", param),
            DisableAdditionalProperties: Bool(so, "disable_additional_properties", param),
            WhitespacePattern: Text(so, "whitespace_pattern", param));
        var found = new List<StructuredOutputSpec>();
        if (Property(so, "json") is { } json) found.Add(JsonSpec(json, "structured_outputs.json", options));
        if (Property(so, "regex") is { } regex) found.Add(new(StructuredOutputKind.Regex, param, RequireString(regex, "structured_outputs.regex")));
        if (Property(so, "choice") is { } choice) found.Add(ChoiceSpec(choice, "structured_outputs.choice", param));
        if (Property(so, "grammar") is { } grammar) found.Add(new(StructuredOutputKind.Grammar, param, RequireString(grammar, "structured_outputs.grammar")));
        if (Bool(so, "json_object", param)) found.Add(new(StructuredOutputKind.JsonObject, param, JsonOptions: options));
        if (found.Count == 0)
            throw ApiException.BadRequest("structured_outputs must give one of json, regex, choice, grammar or json_object.", param);
        foreach (var option in (string[])["disable_any_whitespace", "disable_additional_properties", "whitespace_pattern"])
            if (Property(so, option) is not null) CheckJsonOption(found, $"structured_outputs.{option}");
        return found;
    }

    private static List<StructuredOutputSpec> FromGuided(IReadOnlyDictionary<string, JsonElement> extra)
    {
        var whitespace = Field(extra, "guided_whitespace_pattern") is { } ws
            ? RequireString(ws, "guided_whitespace_pattern") : null;
        var options = new JsonGrammarOptions(WhitespacePattern: whitespace);
        var found = new List<StructuredOutputSpec>();
        if (Field(extra, "guided_json") is { } json) found.Add(JsonSpec(json, "guided_json", options));
        if (Field(extra, "guided_regex") is { } regex) found.Add(new(StructuredOutputKind.Regex, "guided_regex", RequireString(regex, "guided_regex")));
        if (Field(extra, "guided_choice") is { } choice) found.Add(ChoiceSpec(choice, "guided_choice", "guided_choice"));
        if (Field(extra, "guided_grammar") is { } grammar) found.Add(new(StructuredOutputKind.Grammar, "guided_grammar", RequireString(grammar, "guided_grammar")));
        if (whitespace is not null && !found.Any(s => s.Kind == StructuredOutputKind.JsonSchema))
            throw ApiException.BadRequest("guided_whitespace_pattern applies only together with guided_json.", "guided_whitespace_pattern");
        return found;
    }

    private static void CheckBackend(JsonElement backend, string param)
    {
        if (backend.ValueKind == JsonValueKind.String && Backends.Contains(backend.GetString(), StringComparer.Ordinal)) return;
        throw ApiException.BadRequest(
            $"{param} must be one of {string.Join(", ", Backends.Select(b => $"'{b}'"))} (Loom's own grammar engine), got {backend.GetRawText()}.", param);
    }

    /// <summary>A JSON spacing option must come with a JSON constraint; beside a regex, choice or grammar it would do nothing.</summary>
    private static void CheckJsonOption(List<StructuredOutputSpec> found, string param)
    {
        if (!found.Any(s => s.Kind is StructuredOutputKind.JsonSchema or StructuredOutputKind.JsonObject))
            throw ApiException.BadRequest($"{param} applies only to JSON output (json, json_object), not to a regex, choice or grammar.", param);
    }

    /// <summary>A schema given as an object or as its JSON text (vLLM accepts both).</summary>
    private static StructuredOutputSpec JsonSpec(JsonElement json, string name, JsonGrammarOptions options)
    {
        string param = name.Split('.')[0];
        string schema = json.ValueKind switch
        {
            JsonValueKind.Object or JsonValueKind.True => json.GetRawText(),
            JsonValueKind.String => json.GetString()!,
            _ => throw ApiException.BadRequest($"{name} must be a JSON Schema (an object or its JSON text).", param),
        };
        return new(StructuredOutputKind.JsonSchema, param, schema, JsonOptions: options);
    }

    private static StructuredOutputSpec ChoiceSpec(JsonElement choice, string name, string param)
    {
        if (choice.ValueKind != JsonValueKind.Array || choice.GetArrayLength() == 0
            || choice.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
            throw ApiException.BadRequest($"{name} must be a non-empty list of strings.", param);
        return new(StructuredOutputKind.Choice, param, Choices: [.. choice.EnumerateArray().Select(e => e.GetString()!)]);
    }

    private static JsonElement? Property(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static bool Bool(JsonElement o, string name, string param) => Property(o, name) switch
    {
        null => false,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw ApiException.BadRequest($"{param}.{name} must be a boolean.", param),
    };

    private static string? Text(JsonElement o, string name, string param) =>
        Property(o, name) is { } v ? RequireString(v, $"{param}.{name}") : null;

    private static string RequireString(JsonElement v, string name) => v.ValueKind == JsonValueKind.String
        ? v.GetString()!
        : throw ApiException.BadRequest($"{name} must be a string.", name.Split('.')[0]);
}
