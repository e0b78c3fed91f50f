using System.Text.Json;
using Loom.Grammar.Ast;

namespace Loom.Grammar.Frontends;

public sealed partial class JsonSchemaGrammar
{
    /// <summary>
    /// Declared properties in schema order, required ones always, optional ones maybe; then additional members if
    /// allowed, with keys that differ from every declared one. Rules "after-i" ("members from i on, after a member
    /// was written") keep commas right with O(n) rules.
    /// </summary>
    private GrammarExpr ObjectExpr(JsonElement schema, string path)
    {
        var props = new List<(string Key, GrammarExpr Value, bool Required)>();
        var required = schema.TryGetProperty("required", out var req) ? req.EnumerateArray().Select(r => r.GetString()!).ToHashSet() : [];
        if (schema.TryGetProperty("properties", out var properties))
            foreach (var p in properties.EnumerateObject())
                props.Add((p.Name, Convert(p.Value, $"{path}/properties/{p.Name}"), required.Contains(p.Name)));
        foreach (string key in required.Where(k => props.All(p => p.Key != k)))
            props.Add((key, Expr.Ref("value"), true));
        GrammarExpr? additional = AdditionalValue(schema, path);
        GrammarExpr? extraMember = additional == null ? null
            : Expr.Seq(Expr.Lit("\""), KeyNotIn(props.Select(p => p.Key).ToHashSet()), Expr.Lit("\""), Space, Expr.Lit(":"), Space, additional, Space);

        string stem = _grammar.FreshName("object");
        _grammar.Define(stem, Expr.Empty); // reserves the name; the rules made here are stem-after-i
        string After(int i) => $"{stem}-after-{i}";
        GrammarExpr Member(int i) => Expr.Seq(JsonLiteralKey(props[i].Key), Space, Expr.Lit(":"), Space, props[i].Value, Space);
        GrammarExpr Comma = Expr.Seq(Expr.Lit(","), Space);
        GrammarExpr Extras() => extraMember == null ? Expr.Empty : Expr.Star(Expr.Seq(Comma, extraMember));

        _grammar.Define(After(props.Count), Extras());
        for (int i = props.Count - 1; i >= 0; i--)
        {
            var take = Expr.Seq(Comma, Member(i), Expr.Ref(After(i + 1)));
            _grammar.Define(After(i), props[i].Required ? take : Expr.Or(take, Expr.Ref(After(i + 1))));
        }
        // Nothing written yet: the first member written has no comma before it.
        var first = new List<GrammarExpr>();
        for (int i = 0; i < props.Count; i++)
        {
            first.Add(Expr.Seq(Member(i), Expr.Ref(After(i + 1))));
            if (props[i].Required) break;
        }
        bool allOptional = props.All(p => !p.Required);
        if (allOptional && extraMember != null) first.Add(Expr.Seq(extraMember, Extras()));
        var body = Expr.Or(first);
        return Expr.Seq(Expr.Lit("{"), Space, allOptional ? Expr.Optional(body) : body, Expr.Lit("}"));
    }

    private static GrammarExpr JsonLiteralKey(string key) => new LiteralExpr(JsonSerializer.SerializeToUtf8Bytes(key, CompactJson));

    /// <summary>The schema of additional members, or null when they are not allowed.</summary>
    private GrammarExpr? AdditionalValue(JsonElement schema, string path)
    {
        if (!schema.TryGetProperty("additionalProperties", out var ap))
            return _options.DisableAdditionalProperties ? null : Expr.Ref("value");
        return ap.ValueKind == JsonValueKind.False ? null : Convert(ap, $"{path}/additionalProperties");
    }

    /// <summary>
    /// Key text (unescaped characters only) different from every declared key: a trie of the declared keys where
    /// leaving the trie frees the rest, and ending is allowed except exactly at a declared key.
    /// </summary>
    private static GrammarExpr KeyNotIn(HashSet<string> keys)
    {
        var free = Expr.Star(Expr.Chars(UnescapedChars));
        GrammarExpr Node(string prefix)
        {
            var next = keys.Where(k => k.Length > prefix.Length && k.StartsWith(prefix, StringComparison.Ordinal))
                .Select(k => char.ConvertToUtf32(k, prefix.Length)).Distinct().ToList();
            var options = new List<GrammarExpr>();
            if (!keys.Contains(prefix)) options.Add(Expr.Empty);
            var others = UnescapedChars.Minus(CodePointSet.Of(next.Select(c => (c, c))));
            options.Add(Expr.Seq(Expr.Chars(others), free));
            foreach (int c in next)
            {
                string s = char.ConvertFromUtf32(c);
                if (UnescapedChars.Contains(c)) options.Add(Expr.Seq(Expr.Lit(s), Node(prefix + s)));
            }
            return Expr.Or(options);
        }
        return Node("");
    }

    private GrammarExpr ArrayExpr(JsonElement schema, string path)
    {
        var prefix = schema.TryGetProperty("prefixItems", out var pi)
            ? pi.EnumerateArray().Select((s, i) => Convert(s, $"{path}/prefixItems/{i}")).ToList() : [];
        GrammarExpr? rest = !schema.TryGetProperty("items", out var items) ? Expr.Ref("value")
            : items.ValueKind == JsonValueKind.False ? null : Convert(items, $"{path}/items");
        int min = IntKeyword(schema, "minItems", path) ?? 0;
        int? maxKeyword = IntKeyword(schema, "maxItems", path);
        int max = rest == null ? Math.Min(maxKeyword ?? prefix.Count, prefix.Count) : maxKeyword ?? RepeatExpr.Unbounded;
        if (max != RepeatExpr.Unbounded && max < min) return Expr.Nothing;
        if (max == 0) return Expr.Seq(Expr.Lit("["), Space, Expr.Lit("]"));
        var item = (int i) => Expr.Seq(i < prefix.Count ? prefix[i] : rest!, Space);
        var comma = Expr.Seq(Expr.Lit(","), Space);
        // Items 0..n: the i-th item is optional once i >= min; optional items nest so that commas stay right.
        GrammarExpr Tail(int i)
        {
            if (max != RepeatExpr.Unbounded && i >= max) return Expr.Empty;
            if (i >= prefix.Count)
            {
                int more = max == RepeatExpr.Unbounded ? RepeatExpr.Unbounded : max - i;
                int need = Math.Max(0, min - i);
                return Expr.Repeat(Expr.Seq(comma, item(i)), need, more);
            }
            var take = Expr.Seq(comma, item(i), Tail(i + 1));
            return i >= min ? Expr.Optional(take) : take;
        }
        GrammarExpr firstAndRest = Expr.Seq(item(0), Tail(1));
        var body = min == 0 ? Expr.Optional(firstAndRest) : firstAndRest;
        return Expr.Seq(Expr.Lit("["), Space, body, Expr.Lit("]"));
    }
}
