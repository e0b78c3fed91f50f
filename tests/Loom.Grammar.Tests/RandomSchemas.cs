using System.Text.Json.Nodes;

namespace Loom.Grammar.Tests;

/// <summary>Random JSON Schemas within Loom's supported subset: nesting, enums, optional fields, arrays, bounds.</summary>
internal static class RandomSchemas
{
    public static JsonObject Generate(Random rng)
    {
        var defs = new JsonObject { ["item"] = Leaf(rng) };
        var schema = Node(rng, depth: 0);
        if (schema["type"] is not JsonValue t || t.ToString() != "object") schema = new JsonObject { ["type"] = "object", ["properties"] = new JsonObject { ["v"] = schema }, ["required"] = new JsonArray("v") };
        ((JsonObject)schema["properties"]!)["ref"] = new JsonObject { ["$ref"] = "#/$defs/item" };
        schema["$defs"] = defs;
        return schema;
    }

    private static JsonObject Node(Random rng, int depth)
    {
        int pick = rng.Next(depth >= 2 ? 6 : 9);
        return pick switch
        {
            < 6 => Leaf(rng),
            6 or 7 => Object(rng, depth),
            _ => new JsonObject { ["type"] = "array", ["items"] = Node(rng, depth + 1), ["minItems"] = rng.Next(2), ["maxItems"] = 2 + rng.Next(2) },
        };
    }

    private static JsonObject Object(Random rng, int depth)
    {
        var props = new JsonObject();
        var required = new JsonArray();
        int n = 1 + rng.Next(3);
        for (int i = 0; i < n; i++)
        {
            string key = $"k{i}{(rng.Next(2) == 0 ? "" : "x")}";
            props[key] = Node(rng, depth + 1);
            if (rng.Next(2) == 0) required.Add(key);
        }
        var o = new JsonObject { ["type"] = "object", ["properties"] = props, ["required"] = required };
        int ap = rng.Next(3);
        if (ap == 0) o["additionalProperties"] = false;
        else if (ap == 1) o["additionalProperties"] = new JsonObject { ["type"] = "integer" };
        return o;
    }

    private static JsonObject Leaf(Random rng) => rng.Next(12) switch
    {
        0 => new JsonObject { ["type"] = "string" },
        1 => new JsonObject { ["type"] = "string", ["minLength"] = 1, ["maxLength"] = 1 + rng.Next(4) },
        2 => new JsonObject { ["enum"] = new JsonArray("red", "green", 3, null) },
        3 => new JsonObject { ["type"] = "integer", ["minimum"] = -rng.Next(50), ["maximum"] = rng.Next(500) },
        4 => new JsonObject { ["type"] = "number", ["minimum"] = rng.Next(3), ["exclusiveMaximum"] = 10 + rng.Next(90) },
        5 => new JsonObject { ["type"] = "boolean" },
        6 => new JsonObject { ["type"] = new JsonArray("string", "null") },
        7 => new JsonObject { ["anyOf"] = new JsonArray(new JsonObject { ["type"] = "integer" }, new JsonObject { ["type"] = "string", ["format"] = "date" }) },
        8 => new JsonObject { ["type"] = "string", ["pattern"] = "^[a-z]{2,4}-[0-9]+$" },
        9 => new JsonObject { ["type"] = "string", ["format"] = rng.Next(2) == 0 ? "uuid" : "date-time" },
        10 => new JsonObject { ["const"] = "fixed" },
        _ => new JsonObject { ["type"] = "number" },
    };
}
