namespace Loom.Tokenizers.Tests;

/// <summary>Every fixture case must equal Hugging Face exactly; failures list each differing case.</summary>
public class HfTokenizerFixtureTests
{
    public static TheoryData<string> Names => TokenizerFixtures.NameData();

    [Theory, MemberData(nameof(Names))]
    public void EncodeWithoutSpecialTokensMatchesReference(string name) =>
        AssertAll(name, c => Compare(c.Ids, TokenizerFixtures.Load(name).Encode(c.Text, addSpecialTokens: false)));

    [Theory, MemberData(nameof(Names))]
    public void EncodeWithSpecialTokensMatchesReference(string name) =>
        AssertAll(name, c => Compare(c.IdsWithSpecial, TokenizerFixtures.Load(name).Encode(c.Text, addSpecialTokens: true)));

    [Theory, MemberData(nameof(Names))]
    public void DecodeMatchesReference(string name) =>
        AssertAll(name, c => Compare(c.Decoded, TokenizerFixtures.Load(name).Decode(c.Ids, skipSpecialTokens: false)));

    [Theory, MemberData(nameof(Names))]
    public void DecodeSkippingSpecialTokensMatchesReference(string name) =>
        AssertAll(name, c => Compare(c.DecodedSkipSpecial, TokenizerFixtures.Load(name).Decode(c.Ids, skipSpecialTokens: true)));

    [Theory, MemberData(nameof(Names))]
    public void RenderedChatEncodesToReferenceIds(string name)
    {
        var tokenizer = TokenizerFixtures.Load(name);
        var chats = TokenizerFixtures.ChatCases(name);
        Assert.NotEmpty(chats);
        var failures = chats.Select((c, i) => (i, c.Rendered, Diff: Compare(c.Ids, tokenizer.Encode(c.Rendered))))
            .Where(f => f.Diff != null).Select(f => $"chat {f.i} {Show(f.Rendered)}: {f.Diff}").ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static void AssertAll(string name, Func<TokenizerFixtures.Case, string?> check)
    {
        var cases = TokenizerFixtures.Cases(name);
        Assert.NotEmpty(cases);
        var failures = cases.Select((c, i) => (i, c.Text, Diff: check(c))).Where(f => f.Diff != null)
            .Select(f => $"case {f.i} {Show(f.Text)}: {f.Diff}").ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} cases differ:\n" + string.Join("\n", failures.Take(10)));
    }

    private static string? Compare(int[] expected, int[] actual) => expected.AsSpan().SequenceEqual(actual) ? null
        : $"expected [{string.Join(",", expected)}] got [{string.Join(",", actual)}]";

    private static string? Compare(string expected, string actual) => expected == actual ? null
        : $"expected {Show(expected)} got {Show(actual)}";

    private static string Show(string s) => System.Text.Json.JsonSerializer.Serialize(s.Length > 120 ? s[..120] + "…" : s);
}
