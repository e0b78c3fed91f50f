using Loom.Tests;

namespace Loom.Tokenizers.Tests;

/// <summary>A tokenizer built from a definition written in code is the tokenizer its tokenizer.json describes.</summary>
public sealed class TokenizerDefinitionTests
{
    [Fact]
    public void TheReaderAndADefinitionInCodeBuildTheSameTokenizer()
    {
        string dir = RepoPaths.FixtureTokenizer("bytebpe-qwen");
        var config = TokenizerConfig.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")), "tokenizer_config.json");
        var read = TokenizerJsonReader.Read(File.ReadAllText(Path.Combine(dir, "tokenizer.json")), "tokenizer.json", config);
        var rewritten = read with
        {
            PreTokenizer = new PreTokenizerDefinition.Sequence(
            [
                new PreTokenizerDefinition.Split(new PatternDefinition(ByteLevelSplitRegexes.Qwen2, IsRegex: true, "code"),
                    SplitBehavior.Isolated, Invert: false),
                new PreTokenizerDefinition.ByteLevel(AddPrefixSpace: false, UseRegex: false),
            ]),
            Decoder = new DecoderDefinition.ByteLevel(),
        };
        var fromJson = HfTokenizer.FromDefinition(read);
        var fromCode = HfTokenizer.FromDefinition(rewritten);
        foreach (var c in TokenizerFixtures.Cases("bytebpe-qwen"))
        {
            Assert.Equal(c.Ids, fromCode.Encode(c.Text));
            Assert.Equal(fromJson.Decode(c.Ids), fromCode.Decode(c.Ids));
        }
    }

    [Fact]
    public void AnIdFarBeyondTheVocabularyIsRefusedNamingTheSource()
    {
        var vocab = new Dictionary<string, int> { ["a"] = 0, ["b"] = int.MaxValue };
        var definition = new TokenizerDefinition(new BpeDefinition(vocab, [], "model"), "made.gguf");
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromDefinition(definition));
        Assert.Contains("made.gguf", e.Message);
        Assert.Contains("\"b\"", e.Message);
    }

    [Fact]
    public void AMergeOutsideTheVocabularyIsRefusedNamingTheModelsOrigin()
    {
        var vocab = new Dictionary<string, int> { ["a"] = 0, ["b"] = 1 };
        var definition = new TokenizerDefinition(new BpeDefinition(vocab, [("a", "b")], "made.gguf: tokenizer.ggml.merges"), "made.gguf");
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromDefinition(definition));
        Assert.StartsWith("made.gguf: tokenizer.ggml.merges: merge 0", e.Message);
    }
}
