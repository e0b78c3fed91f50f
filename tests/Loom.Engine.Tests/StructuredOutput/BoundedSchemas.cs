using System.Text.Json.Nodes;

namespace Loom.Engine.Tests.StructuredOutput;

/// <summary>A schema and the most bytes any JSON text Loom's grammar accepts for it can take.</summary>
internal sealed record BoundedSchema(JsonObject Schema, int MaxBytes);

/// <summary>
/// Random JSON Schemas (nesting, enums, optional fields, arrays, bounded numbers, formats, nullable types, anyOf,
/// $ref) in which every instance is finite: strings have maxLength, arrays maxItems, objects no additional
/// properties, nesting stops at depth 3. So a grammar over one forces the end within <see cref="BoundedSchema.MaxBytes"/>
/// bytes, and a sampled output cut at that many tokens is a bug, never bad luck.
/// </summary>
/// <param name="space">The most bytes whitespace takes in one slot: 22 with Loom's default (two newlines and a
/// 20-character indent), 0 with disable_any_whitespace.</param>
internal sealed class BoundedSchemas(Random rng, int space)
{
    /// <summary>The most bytes of one whitespace slot under Loom's default JSON spacing.</summary>
    public const int DefaultSpace = 22;

    private int Space => space;

    /// <summary>A JSON string of at most n characters: each may be a six-byte \uXXXX escape.</summary>
    private static int StringBytes(int maxLength) => 2 + 6 * maxLength;

    /// <summary>A schema whose bound is at most <paramref name="maxBytes"/> (larger draws are dropped and drawn again).</summary>
    public BoundedSchema Generate(int maxBytes)
    {
        while (true)
        {
            var drawn = Draw();
            if (drawn.MaxBytes <= maxBytes) return drawn;
        }
    }

    private BoundedSchema Draw()
    {
        var (item, itemBytes) = Leaf();
        var props = new List<(string Key, JsonObject Schema, int Bytes, bool Required)>();
        int n = 1 + rng.Next(3);
        for (int i = 0; i < n; i++)
        {
            var (schema, bytes) = Node(depth: 1);
            props.Add(($"p{i}", schema, bytes, rng.Next(2) == 0));
        }
        props.Add(("ref", new JsonObject { ["$ref"] = "#/$defs/item" }, itemBytes, rng.Next(2) == 0));
        var (root, rootBytes) = Object(props);
        root["$defs"] = new JsonObject { ["item"] = item };
        return new BoundedSchema(root, rootBytes);
    }

    private (JsonObject Schema, int Bytes) Node(int depth) => rng.Next(depth >= 3 ? 6 : 9) switch
    {
        < 6 => Leaf(),
        6 or 7 => RandomObject(depth),
        _ => Array(depth),
    };

    private (JsonObject, int) RandomObject(int depth)
    {
        int n = 1 + rng.Next(3);
        var props = new List<(string, JsonObject, int, bool)>();
        for (int i = 0; i < n; i++)
        {
            var (schema, bytes) = Node(depth + 1);
            props.Add(($"k{i}{(rng.Next(2) == 0 ? "" : "x")}", schema, bytes, rng.Next(2) == 0));
        }
        return Object(props);
    }

    /// <summary>{ S (key S : S value S) (, S key S : S value S)* }: every member written, each slot at its widest.</summary>
    private (JsonObject, int) Object(List<(string Key, JsonObject Schema, int Bytes, bool Required)> props)
    {
        var properties = new JsonObject();
        var required = new JsonArray();
        int bytes = 2 + Space;
        foreach (var (key, schema, valueBytes, isRequired) in props)
        {
            properties[key] = schema;
            if (isRequired) required.Add(key);
            bytes += 1 + Space + (key.Length + 2) + Space + 1 + Space + valueBytes + Space;
        }
        return (new JsonObject { ["type"] = "object", ["properties"] = properties, ["required"] = required, ["additionalProperties"] = false }, bytes);
    }

    /// <summary>[ S (item S) (, S item S)* ] with at most maxItems items.</summary>
    private (JsonObject, int) Array(int depth)
    {
        var (items, itemBytes) = Node(depth + 1);
        int max = 1 + rng.Next(3);
        var schema = new JsonObject { ["type"] = "array", ["items"] = items, ["minItems"] = rng.Next(2), ["maxItems"] = max };
        return (schema, 2 + Space + max * (1 + Space + itemBytes + Space));
    }

    private (JsonObject, int) Leaf()
    {
        int maxLength = 1 + rng.Next(6);
        return rng.Next(13) switch
        {
            0 => (new JsonObject { ["type"] = "string", ["maxLength"] = maxLength }, StringBytes(maxLength)),
            1 => (new JsonObject { ["type"] = "string", ["minLength"] = 1, ["maxLength"] = maxLength }, StringBytes(maxLength)),
            2 => (new JsonObject { ["enum"] = new JsonArray("red", "green", 3, null) }, 7),
            3 => (new JsonObject { ["type"] = "integer", ["minimum"] = -rng.Next(50), ["maximum"] = rng.Next(500) }, 3),
            // Integer part, '.', at most 15 digits and a non-zero last digit.
            4 => (new JsonObject { ["type"] = "number", ["minimum"] = rng.Next(3), ["exclusiveMaximum"] = 10 + rng.Next(90) }, 2 + 1 + 16),
            5 => (new JsonObject { ["type"] = "boolean" }, 5),
            6 => (new JsonObject { ["type"] = new JsonArray("string", "null"), ["maxLength"] = maxLength }, StringBytes(maxLength)),
            // -?[1-9][0-9]{0,15} or a quoted date.
            7 => (new JsonObject { ["anyOf"] = new JsonArray(new JsonObject { ["type"] = "integer" }, new JsonObject { ["type"] = "string", ["format"] = "date" }) }, 17),
            8 => (new JsonObject { ["type"] = "string", ["pattern"] = "^[a-z]{2,4}-[0-9]{1,3}$" }, 2 + 8),
            9 => (new JsonObject { ["type"] = "string", ["format"] = "uuid" }, 2 + 36),
            // date T hh:mm:ss.ffffff+hh:mm
            10 => (new JsonObject { ["type"] = "string", ["format"] = "date-time" }, 2 + 10 + 1 + 8 + 7 + 6),
            11 => (new JsonObject { ["const"] = "fixed" }, 7),
            // -?int(16 digits) .fraction(15) e[+-]dd
            _ => (new JsonObject { ["type"] = "number" }, 17 + 16 + 4),
        };
    }
}
