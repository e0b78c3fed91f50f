using Loom.Tests;

namespace Loom.Tokenizers.Tests;

/// <summary>The tokenizers shipped with the fixture models and the demo model load and round-trip text.</summary>
public class ModelTokenizerTests
{
    public static TheoryData<string> ModelDirs()
    {
        var dirs = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(Path.Combine(RepoPaths.Fixtures, "models")).Order()) dirs.Add(dir);
        dirs.Add(RepoPaths.DemoModel);
        return dirs;
    }

    // No leading space: Metaspace (prepend_scheme "first") drops it on decode, as Hugging Face does; the fixture
    // cases pin that behaviour exactly.
    private static readonly string[] Texts =
    [
        "Hello world", "two  spaces", "trailing spaces  ", "multi\nline\r\ntext\t tabbed",
        "numbers 1234567 and 3.14", "KV cache: prefill/decode (chunked)!", "naïve café — résumé",
        "emoji 😀👍🏽 and 中文 and Ελληνικά", "code: `def f(x): return x ** 2`",
    ];

    [Theory, MemberData(nameof(ModelDirs))]
    public void DecodeOfEncodeIsTheOriginalText(string dir)
    {
        var tokenizer = HfTokenizer.FromDirectory(dir);
        foreach (var text in Texts)
        {
            var ids = tokenizer.Encode(text);
            Assert.NotEmpty(ids);
            Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.VocabSize - 1));
            Assert.Equal(text, tokenizer.Decode(ids));
        }
    }

    [Theory, MemberData(nameof(ModelDirs))]
    public void EosTokenResolvesToAnId(string dir)
    {
        var tokenizer = HfTokenizer.FromDirectory(dir);
        Assert.NotNull(tokenizer.EosToken);
        int eos = Assert.NotNull(tokenizer.EosTokenId);
        Assert.True(tokenizer.IsSpecial(eos));
        Assert.Equal(tokenizer.EosToken, tokenizer.IdToToken(eos));
    }
}
