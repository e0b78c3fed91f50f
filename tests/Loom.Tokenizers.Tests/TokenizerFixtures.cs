using System.Text.Json;
using Loom.Tests;

namespace Loom.Tokenizers.Tests;

/// <summary>The reference cases in tests/fixtures/tokenizers/*/cases.json, made with Hugging Face tokenizers.</summary>
internal static class TokenizerFixtures
{
    public static readonly string[] Names = ["bytebpe-qwen", "bytebpe-llama3", "spm-legacy", "spm-metaspace"];

    public static TheoryData<string> NameData() => new(Names);

    private static readonly Dictionary<string, HfTokenizer> Loaded = new();

    public static HfTokenizer Load(string name)
    {
        lock (Loaded)
        {
            if (!Loaded.TryGetValue(name, out var tokenizer))
                Loaded[name] = tokenizer = HfTokenizer.FromDirectory(RepoPaths.FixtureTokenizer(name));
            return tokenizer;
        }
    }

    public sealed record Case(string Text, int[] Ids, int[] IdsWithSpecial, string Decoded, string DecodedSkipSpecial);

    public sealed record ChatCase(string Rendered, int[] Ids);

    public static IReadOnlyList<Case> Cases(string name)
    {
        using var doc = Open(name);
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
            c.GetProperty("text").GetString()!, Ints(c.GetProperty("ids")), Ints(c.GetProperty("ids_with_special")),
            c.GetProperty("decoded").GetString()!, c.GetProperty("decoded_skip_special").GetString()!)).ToList();
    }

    public static IReadOnlyList<ChatCase> ChatCases(string name)
    {
        using var doc = Open(name);
        return doc.RootElement.GetProperty("chat").EnumerateArray()
            .Select(c => new ChatCase(c.GetProperty("rendered").GetString()!, Ints(c.GetProperty("ids")))).ToList();
    }

    private static JsonDocument Open(string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.FixtureTokenizer(name), "cases.json")));

    private static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();
}
