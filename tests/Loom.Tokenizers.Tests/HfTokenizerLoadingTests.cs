using Loom.Tests;

namespace Loom.Tokenizers.Tests;

public class HfTokenizerLoadingTests
{
    /// <summary>A tiny SentencePiece-style BPE: a, b, ab, abc merges; unk; optional byte fallback.</summary>
    private static string TinyBpe(string merges, bool fuseUnk = true, bool byteFallback = false, string extraVocab = "") => $$"""
        {
          "version": "1.0",
          "added_tokens": [{"id": 0, "content": "<unk>", "special": true, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false}],
          "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
          "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": {{(fuseUnk ? "true" : "false")}}, "byte_fallback": {{(byteFallback ? "true" : "false")}},
                    "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "abc": 5, "bc": 6 {{extraVocab}}},
                    "merges": {{merges}}}
        }
        """;

    [Fact]
    public void MergesAsStringsAndAsPairsAgree()
    {
        var fromStrings = HfTokenizer.FromJson(TinyBpe("""["b c", "a b", "ab c"]"""));
        var fromPairs = HfTokenizer.FromJson(TinyBpe("""[["b", "c"], ["a", "b"], ["ab", "c"]]"""));
        foreach (var text in new[] { "abc", "abcab", "cab", "bcbc" })
            Assert.Equal(fromStrings.Encode(text), fromPairs.Encode(text));
        Assert.Equal([1, 6], fromStrings.Encode("abc"));   // "b c" has the lowest rank, so a + bc; "ab c" never applies
    }

    [Fact]
    public void UnknownCharactersFuseIntoOneUnkWhenAsked()
    {
        Assert.Equal([0, 1], HfTokenizer.FromJson(TinyBpe("[]", fuseUnk: true)).Encode("xya"));
        Assert.Equal([0, 0, 1], HfTokenizer.FromJson(TinyBpe("[]", fuseUnk: false)).Encode("xya"));
    }

    [Fact]
    public void ByteFallbackSpellsUnknownCharactersAsUtf8Bytes()
    {
        var tokenizer = HfTokenizer.FromJson(TinyBpe("[]", byteFallback: true, extraVocab: """, "<0xC3>": 7, "<0xA9>": 8"""));
        Assert.Equal([7, 8, 1], tokenizer.Encode("éa"));
        Assert.Equal([0, 1], tokenizer.Encode("ña"));   // 0xB1 has no byte token: the whole character becomes unk
    }

    [Fact]
    public void MissingTokenizerJsonIsNamed()
    {
        string dir = Directory.CreateTempSubdirectory("loom-tok-").FullName;
        try
        {
            var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromDirectory(dir));
            Assert.Contains(Path.Combine(dir, "tokenizer.json"), e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void MalformedTokenizerJsonIsNamed()
    {
        string dir = Directory.CreateTempSubdirectory("loom-tok-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
            var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromDirectory(dir));
            Assert.Contains("tokenizer.json", e.Message);
            Assert.Contains("not valid JSON", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void MergeOfUnknownTokenNamesTheMerge()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromJson(TinyBpe("""["a z"]""")));
        Assert.Contains("\"z\" is not in the vocab", e.Message);
        Assert.Contains("merge 0", e.Message);
    }

    [Fact]
    public void UnsupportedComponentsAreNamed()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromJson(
            """{"model": {"type": "Unigram", "vocab": []}}"""));
        Assert.Contains("Unigram", e.Message);
        e = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.FromJson(
            TinyBpe("[]").Replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"Precompiled\"}")));
        Assert.Contains("$.normalizer", e.Message);
        Assert.Contains("Precompiled", e.Message);
    }

    [Fact]
    public void ConfigExposesTemplatesAndSpecialTokens()
    {
        var config = TokenizerConfig.Parse("""
            {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "add_bos_token": true,
             "chat_template": [{"name": "default", "template": "{{ messages }}"}, {"name": "tool_use", "template": "T"}]}
            """, "tokenizer_config.json");
        Assert.Equal("<s>", config.BosToken);
        Assert.Equal("</s>", config.EosToken);
        Assert.True(config.AddBosToken);
        Assert.Null(config.AddEosToken);
        Assert.Equal("{{ messages }}", config.ChatTemplate);
        Assert.Equal("T", config.ChatTemplates["tool_use"]);
    }

    [Fact]
    public void FixtureConfigsCarryTheirChatTemplates()
    {
        foreach (var name in TokenizerFixtures.Names)
        {
            var tokenizer = TokenizerFixtures.Load(name);
            Assert.False(string.IsNullOrEmpty(tokenizer.Config.ChatTemplate), name);
            Assert.Equal(tokenizer.Config.EosToken, tokenizer.EosToken);
        }
        Assert.Equal(1, TokenizerFixtures.Load("spm-legacy").BosTokenId);
        Assert.Null(TokenizerFixtures.Load("bytebpe-qwen").BosTokenId);
    }

    [Fact]
    public void FromJsonMatchesFromDirectory()
    {
        string dir = RepoPaths.FixtureTokenizer("bytebpe-llama3");
        var inMemory = HfTokenizer.FromJson(File.ReadAllText(Path.Combine(dir, "tokenizer.json")),
            File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")));
        const string text = "Hello <|eot_id|> world 123456";
        Assert.Equal(TokenizerFixtures.Load("bytebpe-llama3").Encode(text, true), inMemory.Encode(text, true));
        Assert.Equal("<|begin_of_text|>", inMemory.BosToken);
    }
}
