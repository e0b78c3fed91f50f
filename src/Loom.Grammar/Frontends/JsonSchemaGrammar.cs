using System.Text.Json;
using Loom.Grammar.Ast;

namespace Loom.Grammar.Frontends;

/// <summary>
/// JSON Schema → grammar: OpenAI's strict subset plus what llama.cpp's json-schema-to-grammar handles. A keyword that
/// would constrain the output but that Loom cannot enforce is a <see cref="GrammarException"/> naming it; annotations
/// (title, description, ...) are ignored. oneOf is enforced as anyOf (an output matching two branches is possible when
/// branches overlap).
/// </summary>
public sealed partial class JsonSchemaGrammar
{
    private static readonly HashSet<string> Annotations = new(StringComparer.Ordinal)
    {
        "$schema", "$id", "$comment", "$anchor", "title", "description", "default", "examples", "deprecated",
        "readOnly", "writeOnly", "$defs", "definitions", "strict",
    };

    private static readonly HashSet<string> Enforced = new(StringComparer.Ordinal)
    {
        "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "nullable", "properties", "required",
        "additionalProperties", "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "minLength", "maxLength",
        "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    };

    private readonly GrammarDefinition _grammar = new();
    private readonly JsonElement _document;
    private readonly JsonGrammarOptions _options;
    private readonly Dictionary<string, string> _refRules = new(StringComparer.Ordinal);

    private JsonSchemaGrammar(JsonElement document, JsonGrammarOptions options)
    {
        _document = document;
        _options = options;
        DefineShared();
    }

    /// <summary>The grammar of JSON texts valid against <paramref name="schemaJson"/>.</summary>
    public static GrammarDefinition FromSchema(string schemaJson, JsonGrammarOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(schemaJson);
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(schemaJson);
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new GrammarException($"the schema is not valid JSON: {e.Message}", "schema");
        }
        CheckWellFormed(schemaJson);
        var converter = new JsonSchemaGrammar(root, options ?? JsonGrammarOptions.Default);
        converter._grammar.Define("root", converter.Convert(root, "#"));
        return converter._grammar;
    }

    /// <summary>Any JSON object (response_format json_object).</summary>
    public static GrammarDefinition AnyObject(JsonGrammarOptions? options = null)
    {
        using var doc = JsonDocument.Parse("""{"type":"object"}""");
        var converter = new JsonSchemaGrammar(doc.RootElement.Clone(), (options ?? JsonGrammarOptions.Default) with { DisableAdditionalProperties = false });
        converter._grammar.Define("root", Expr.Ref("object-any"));
        return converter._grammar;
    }

    /// <summary>The schema itself must be a valid schema (JsonSchema.Net checks the keyword shapes).</summary>
    private static void CheckWellFormed(string schemaJson)
    {
        try
        {
            Json.Schema.JsonSchema.FromText(schemaJson, new Json.Schema.BuildOptions { SchemaRegistry = new Json.Schema.SchemaRegistry() });
        }
        catch (Exception e) when (e is Json.Schema.JsonSchemaException or JsonException or ArgumentException or InvalidOperationException or FormatException or UriFormatException)
        {
            throw new GrammarException($"invalid JSON Schema: {e.Message}", "schema");
        }
    }

    private GrammarExpr Convert(JsonElement schema, string path)
    {
        if (schema.ValueKind == JsonValueKind.True) return Expr.Ref("value");
        if (schema.ValueKind == JsonValueKind.False) return Expr.Nothing;
        if (schema.ValueKind != JsonValueKind.Object) throw new GrammarException($"{path}: a schema must be an object or a boolean", "schema");
        CheckKeywords(schema, path);
        if (schema.TryGetProperty("$ref", out var reference)) return RefTo(reference.GetString() ?? "", path);
        if (schema.TryGetProperty("enum", out var values)) return Expr.Or(values.EnumerateArray().Select(JsonLiteral));
        if (schema.TryGetProperty("const", out var constant)) return JsonLiteral(constant);
        if (schema.TryGetProperty("anyOf", out var anyOf)) return Alternatives(anyOf, path, "anyOf");
        if (schema.TryGetProperty("oneOf", out var oneOf)) return Alternatives(oneOf, path, "oneOf");
        if (schema.TryGetProperty("allOf", out var allOf))
        {
            if (allOf.GetArrayLength() != 1) throw new GrammarException($"{path}: allOf with more than one schema is not supported", "allOf");
            return Convert(allOf[0], $"{path}/allOf/0");
        }
        return Expr.Or(TypesOf(schema).Select(t => ConvertTyped(t, schema, path)));
    }

    private static void CheckKeywords(JsonElement schema, string path)
    {
        var constraining = new List<string>();
        foreach (var p in schema.EnumerateObject())
        {
            if (Annotations.Contains(p.Name)) continue;
            if (!Enforced.Contains(p.Name))
                throw new GrammarException($"{path}: the keyword '{p.Name}' cannot be enforced by Loom", p.Name);
            constraining.Add(p.Name);
        }
        if (schema.TryGetProperty("uniqueItems", out var unique) && unique.ValueKind == JsonValueKind.True)
            throw new GrammarException($"{path}: the keyword 'uniqueItems' cannot be enforced by Loom", "uniqueItems");
        foreach (string combinator in new[] { "$ref", "anyOf", "oneOf", "allOf", "enum", "const" })
        {
            if (!constraining.Contains(combinator)) continue;
            string? sibling = constraining.FirstOrDefault(k => k != combinator && k is not ("type" or "nullable" or "uniqueItems"));
            if (sibling != null)
                throw new GrammarException($"{path}: '{combinator}' together with '{sibling}' is not supported", sibling);
        }
    }

    private GrammarExpr Alternatives(JsonElement options, string path, string keyword)
    {
        if (options.ValueKind != JsonValueKind.Array || options.GetArrayLength() == 0)
            throw new GrammarException($"{path}: '{keyword}' needs a non-empty array", keyword);
        return Expr.Or(options.EnumerateArray().Select((s, i) => Convert(s, $"{path}/{keyword}/{i}")));
    }

    private static List<string> TypesOf(JsonElement schema)
    {
        var types = new List<string>();
        if (schema.TryGetProperty("type", out var type))
        {
            if (type.ValueKind == JsonValueKind.String) types.Add(type.GetString()!);
            else types.AddRange(type.EnumerateArray().Select(t => t.GetString()!));
        }
        else types.AddRange(InferTypes(schema));
        if (schema.TryGetProperty("nullable", out var nullable) && nullable.ValueKind == JsonValueKind.True && !types.Contains("null"))
            types.Add("null");
        return types;
    }

    /// <summary>No "type": the type-specific keywords present say which types are meant; none means any value.</summary>
    private static IEnumerable<string> InferTypes(JsonElement schema)
    {
        bool Has(params string[] keys) => keys.Any(k => schema.TryGetProperty(k, out _));
        var types = new List<string>();
        if (Has("properties", "required", "additionalProperties")) types.Add("object");
        if (Has("items", "prefixItems", "minItems", "maxItems")) types.Add("array");
        if (Has("minLength", "maxLength", "pattern", "format")) types.Add("string");
        if (Has("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")) types.Add("number");
        return types.Count > 0 ? types : ["any"];
    }

    private GrammarExpr ConvertTyped(string type, JsonElement schema, string path) => type switch
    {
        "object" => ObjectExpr(schema, path),
        "array" => ArrayExpr(schema, path),
        "string" => StringExpr(schema, path),
        "integer" => IntegerExpr(schema, path),
        "number" => NumberExpr(schema, path),
        "boolean" => Expr.Or(Expr.Lit("true"), Expr.Lit("false")),
        "null" => Expr.Lit("null"),
        "any" => Expr.Ref("value"),
        _ => throw new GrammarException($"{path}: unknown type '{type}'", "type"),
    };

    private GrammarExpr RefTo(string reference, string path)
    {
        if (!reference.StartsWith('#'))
            throw new GrammarException($"{path}: only local references (#/...) are supported, not '{reference}'", "$ref");
        if (_refRules.TryGetValue(reference, out string? rule)) return Expr.Ref(rule);
        var target = Resolve(reference, path);
        string stem = reference == "#" ? "root-schema" : "ref-" + new string(reference.Split('/')[^1].Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());
        rule = _grammar.FreshName(stem);
        _refRules[reference] = rule;
        _grammar.Define(rule, Expr.Empty); // placeholder so that recursive references resolve
        _grammar.Define(rule, Convert(target, reference));
        return Expr.Ref(rule);
    }

    private JsonElement Resolve(string reference, string path)
    {
        var at = _document;
        foreach (string raw in reference.TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string part = Uri.UnescapeDataString(raw).Replace("~1", "/").Replace("~0", "~");
            bool found = at.ValueKind switch
            {
                JsonValueKind.Object => at.TryGetProperty(part, out at),
                JsonValueKind.Array => int.TryParse(part, out int i) && i < at.GetArrayLength() && (at = at[i]).ValueKind != JsonValueKind.Undefined,
                _ => false,
            };
            if (!found) throw new GrammarException($"{path}: the reference '{reference}' points nowhere", "$ref");
        }
        return at;
    }

    /// <summary>A JSON value written compactly, as the literal bytes the output must contain.</summary>
    private static GrammarExpr JsonLiteral(JsonElement value) =>
        new LiteralExpr(JsonSerializer.SerializeToUtf8Bytes(value, CompactJson));

    private static readonly JsonSerializerOptions CompactJson = new()
    {
        WriteIndented = false,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
