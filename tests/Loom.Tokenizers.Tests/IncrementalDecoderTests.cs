using CsCheck;

namespace Loom.Tokenizers.Tests;

/// <summary>Streaming decode: the pieces concatenate to the full decode and never hold a broken character.</summary>
public class IncrementalDecoderTests
{
    public static TheoryData<string> Names => TokenizerFixtures.NameData();

    [Theory, MemberData(nameof(Names))]
    public void FixtureIdsStreamToTheFullDecode(string name)
    {
        var tokenizer = TokenizerFixtures.Load(name);
        foreach (var c in TokenizerFixtures.Cases(name))
            foreach (bool skip in new[] { false, true })
                AssertStreamsLikeFullDecode(tokenizer, c.IdsWithSpecial, skip);
    }

    [Theory, MemberData(nameof(Names))]
    public void MultiByteCharactersAreHeldBackUntilComplete(string name)
    {
        var tokenizer = TokenizerFixtures.Load(name);
        var ids = tokenizer.Encode("emoji 😀👍🏽🇺🇸 and ZWJ 👩\u200d💻, CJK 中文字符 and Ελληνικά");
        var decoder = tokenizer.CreateIncrementalDecoder();
        var pieces = ids.Select(decoder.Add).Append(decoder.Flush()).ToList();
        Assert.True(pieces.Count(p => p.Length == 0) > 0, "some multi-byte character should span several tokens");
        foreach (var piece in pieces) AssertWellFormed(piece);
    }

    [Theory, MemberData(nameof(Names))]
    public void RandomUnicodeTextStreamsToTheFullDecode(string name)
    {
        var tokenizer = TokenizerFixtures.Load(name);
        var text = Gen.OneOf(Gen.String[Gen.Char.AlphaNumeric, 0, 40], Gen.String, Gen.String[Gen.Char['\u0300', '\uFFFF'], 0, 20],
            Gen.Const("Hello 😀 wörld 中文 👩\u200d💻 <s> </s> <|im_end|>"));
        text.Sample(s =>
        {
            if (HasLoneSurrogate(s)) return;
            AssertStreamsLikeFullDecode(tokenizer, tokenizer.Encode(s, addSpecialTokens: true), skipSpecial: true);
            AssertStreamsLikeFullDecode(tokenizer, tokenizer.Encode(s), skipSpecial: false);
        }, iter: 200);
    }

    private static void AssertStreamsLikeFullDecode(ITokenizer tokenizer, int[] ids, bool skipSpecial)
    {
        string full = tokenizer.Decode(ids, skipSpecial);
        var decoder = tokenizer.CreateIncrementalDecoder(skipSpecial);
        var streamed = new System.Text.StringBuilder();
        foreach (int id in ids)
        {
            string piece = decoder.Add(id);
            if (!full.Contains('\uFFFD')) AssertWellFormed(piece);
            streamed.Append(piece);
        }
        streamed.Append(decoder.Flush());
        Assert.Equal(full, streamed.ToString());
    }

    private static void AssertWellFormed(string piece)
    {
        Assert.DoesNotContain('\uFFFD', piece);
        Assert.False(HasLoneSurrogate(piece), $"lone surrogate in {piece}");
    }

    private static bool HasLoneSurrogate(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
            else if (char.IsSurrogate(s[i])) return true;
        }
        return false;
    }
}
