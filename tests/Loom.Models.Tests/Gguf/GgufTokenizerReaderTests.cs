using System.Text.Json;
using Loom.ChatTemplates;
using Loom.Models.Gguf;
using Loom.Tests;
using Loom.Tokenizers;

namespace Loom.Models.Tests.Gguf;

/// <summary>
/// HF tokenizer → tokenizer.ggml.* in a GGUF file → tokenizer rebuilt from the metadata: every reference case of the
/// fixture (made by Hugging Face) must come out the same, and the chat template must render the reference prompts.
/// </summary>
public class GgufTokenizerReaderTests
{
    public static TheoryData<string> Tokenizers => new(GgufMetadataFiles.FixtureTokenizers);

    private static HfTokenizer FromGguf(string name, Func<(string Key, object Value), bool>? keep = null) =>
        GgufTokenizerReader.Load(GgufMetadataFiles.RoundTrip(GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureTokenizer(name)).Where(keep ?? (_ => true))));

    private sealed record Case(string Text, int[] Ids, int[] IdsWithSpecial, string Decoded);

    private sealed record ChatCase(List<ChatMessage> Messages, bool AddGenerationPrompt, string Rendered, int[] Ids);

    private static JsonDocument Cases(string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.FixtureTokenizer(name), "cases.json")));

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static List<Case> TextCases(string name)
    {
        using var doc = Cases(name);
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(c.GetProperty("text").GetString()!,
            Ints(c.GetProperty("ids")), Ints(c.GetProperty("ids_with_special")), c.GetProperty("decoded").GetString()!)).ToList();
    }

    private static List<ChatCase> ChatCases(string name)
    {
        using var doc = Cases(name);
        return doc.RootElement.GetProperty("chat").EnumerateArray().Select(c => new ChatCase(
            c.GetProperty("messages").EnumerateArray().Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString())).ToList(),
            c.GetProperty("add_generation_prompt").GetBoolean(), c.GetProperty("rendered").GetString()!, Ints(c.GetProperty("ids")))).ToList();
    }

    /// <summary>Every case that differs, described; empty when all match.</summary>
    private static List<string> Differences(string name, HfTokenizer tokenizer)
    {
        var failures = new List<string>();
        foreach (var (c, i) in TextCases(name).Select((c, i) => (c, i)))
        {
            if (!tokenizer.Encode(c.Text).SequenceEqual(c.Ids)) failures.Add($"case {i} ids: {Show(c.Text)}");
            if (!tokenizer.Encode(c.Text, addSpecialTokens: true).SequenceEqual(c.IdsWithSpecial)) failures.Add($"case {i} ids_with_special: {Show(c.Text)}");
            if (tokenizer.Decode(c.Ids) != c.Decoded) failures.Add($"case {i} decoded: {Show(c.Text)}");
        }
        return failures;
    }

    private static string Show(string s) => JsonSerializer.Serialize(s.Length > 60 ? s[..60] + "…" : s);

    [Theory, MemberData(nameof(Tokenizers))]
    public void RebuiltTokenizerReproducesEveryReferenceCase(string name)
    {
        var tokenizer = FromGguf(name);
        Assert.Equal(161, TextCases(name).Count);
        var failures = Differences(name, tokenizer);
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }

    [Theory, MemberData(nameof(Tokenizers))]
    public void RebuiltChatTemplateRendersTheReferencePromptsAndTheirIds(string name)
    {
        var tokenizer = FromGguf(name);
        var template = new JinjaChatTemplate(tokenizer.Config.ChatTemplate!);
        var chats = ChatCases(name);
        Assert.NotEmpty(chats);
        foreach (var chat in chats)
        {
            string rendered = template.Render(new ChatTemplateInput(chat.Messages)
            {
                AddGenerationPrompt = chat.AddGenerationPrompt, BosToken = tokenizer.BosToken, EosToken = tokenizer.EosToken,
            });
            Assert.Equal(chat.Rendered, rendered);
            Assert.Equal(chat.Ids, tokenizer.Encode(rendered));
        }
    }

    /// <summary>
    /// llama.cpp's converter stores no merges for SentencePiece vocabularies; the merges are then derived from the
    /// scores as transformers derives them from a tokenizer.model. With Loom's merge-ordered scores this reproduces
    /// the reference too.
    /// </summary>
    [Theory]
    [InlineData("spm-legacy")]
    [InlineData("spm-metaspace")]
    public void SentencePieceWithoutStoredMergesDerivesThemFromScores(string name)
    {
        var tokenizer = FromGguf(name, kv => kv.Key != GgufTokenizerKeys.Merges);
        var failures = Differences(name, tokenizer);
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }

    [Fact]
    public void SpecialTokensAndFlagsComeFromTheMetadata()
    {
        var qwen = FromGguf("bytebpe-qwen");
        Assert.Equal("<|im_end|>", qwen.EosToken);
        Assert.Null(qwen.BosToken);
        Assert.True(qwen.IsSpecial(1));
        Assert.Equal(qwen.Encode("hi"), qwen.Encode("hi", addSpecialTokens: true));

        var llama3 = FromGguf("bytebpe-llama3");
        Assert.Equal(0, llama3.BosTokenId);
        Assert.Equal(4, llama3.EosTokenId);
        Assert.Equal(0, llama3.Encode("hi", addSpecialTokens: true)[0]);

        var spm = FromGguf("spm-legacy");
        Assert.Equal(("<s>", "</s>"), (spm.BosToken, spm.EosToken));
        Assert.Equal(1, spm.Encode("hi", addSpecialTokens: true)[0]);
    }

    /// <summary>The metadata becomes typed stages directly (no tokenizer.json text in between), named as Hugging Face names them.</summary>
    [Fact]
    public void TheDefinitionNamesTheStagesTheMetadataImplies()
    {
        var qwen = GgufTokenizerReader.ReadDefinition(GgufMetadataFiles.RoundTrip(GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureTokenizer("bytebpe-qwen"))));
        Assert.Equal(new NormalizerDefinition.UnicodeForm(System.Text.NormalizationForm.FormC), qwen.Normalizer);
        var stages = Assert.IsType<PreTokenizerDefinition.Sequence>(qwen.PreTokenizer).Stages;
        Assert.Equal(ByteLevelSplitRegexes.Qwen2, Assert.IsType<PreTokenizerDefinition.Split>(stages[0]).Pattern.Text);
        Assert.Equal(new PreTokenizerDefinition.ByteLevel(AddPrefixSpace: false, UseRegex: false), stages[1]);
        Assert.False(qwen.Model.ByteFallback);

        var spm = GgufTokenizerReader.ReadDefinition(GgufMetadataFiles.RoundTrip(GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureTokenizer("spm-metaspace"))));
        Assert.Equal(new PreTokenizerDefinition.Metaspace('\u2581', PrependScheme.First, SplitAtReplacement: false), spm.PreTokenizer);
        Assert.True(spm.Model.ByteFallback);
        Assert.Equal("<s>", spm.Config.BosToken);
        Assert.Contains(spm.AddedTokens, t => t.Content == "<s>" && t.Special);
    }

    [Fact]
    public void NamedChatTemplatesSurviveTheRoundTrip()
    {
        string dir = RepoPaths.FixtureTokenizer("bytebpe-qwen");
        string config = """{"eos_token": "<|im_end|>", "chat_template": [{"name": "default", "template": "A"}, {"name": "tool use", "template": "B"}]}""";
        var m = GgufMetadataFiles.RoundTrip(GgufTokenizerWriter.FromJson(File.ReadAllText(Path.Combine(dir, "tokenizer.json")), config));
        Assert.Equal("B", m.String("tokenizer.chat_template.tool_use"));
        var tokenizer = GgufTokenizerReader.Load(m);
        Assert.Equal("A", tokenizer.Config.ChatTemplate);
        Assert.Equal("B", tokenizer.Config.ChatTemplates["tool_use"]);
    }

    [Theory]
    [InlineData("default")]
    [InlineData("gpt-2")]
    [InlineData("llama3")]
    [InlineData("qwen2")]
    public void EveryKnownPreNameBuildsATokenizerThatRoundTripsText(string pre)
    {
        var metadata = GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureTokenizer("bytebpe-qwen"))
            .Select(kv => kv.Key == GgufTokenizerKeys.Pre ? (kv.Key, (object)pre) : kv);
        var tokenizer = GgufTokenizerReader.Load(GgufMetadataFiles.RoundTrip(metadata));
        const string text = "Hello, world! It's 12345 <tags> and  spaces\n\ttabs — ünïcödé 🦙";
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void BadTokenizerMetadataFailsNamingTheKey()
    {
        var good = GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureTokenizer("bytebpe-qwen"));
        GgufMetadata With(string key, object value) => GgufMetadataFiles.RoundTrip(good.Select(kv => kv.Key == key ? (key, value) : kv));

        var e = Assert.Throws<ModelLoadException>(() => GgufTokenizerReader.Load(With(GgufTokenizerKeys.Pre, "deepseek-llm")));
        Assert.Contains("deepseek-llm", e.Message);
        e = Assert.Throws<ModelLoadException>(() => GgufTokenizerReader.Load(With(GgufTokenizerKeys.Model, "t5")));
        Assert.Contains(GgufTokenizerKeys.Model, e.Message);
        var tokens = ((string[])good.First(kv => kv.Key == GgufTokenizerKeys.Tokens).Value).ToArray();
        tokens[5] = tokens[6];
        e = Assert.Throws<ModelLoadException>(() => GgufTokenizerReader.Load(With(GgufTokenizerKeys.Tokens, tokens)));
        Assert.Contains("twice", e.Message);
        tokens[5] = "";
        Assert.Equal("[EMPTY_5]", GgufTokenizerReader.Load(With(GgufTokenizerKeys.Tokens, tokens)).IdToToken(5)); // as llama.cpp names it
        e = Assert.Throws<ModelLoadException>(() => GgufTokenizerReader.Load(With(GgufTokenizerKeys.TokenType, new[] { 1, 1 })));
        Assert.Contains(GgufTokenizerKeys.TokenType, e.Message);
        e = Assert.Throws<ModelLoadException>(() => GgufTokenizerReader.Load(GgufMetadataFiles.RoundTrip(good.Where(kv => kv.Key != GgufTokenizerKeys.Merges))));
        Assert.Contains(GgufTokenizerKeys.Merges, e.Message);
    }

    /// <summary>
    /// llama.cpp skips a special-token id outside the vocabulary (a uint32 such as 0xFFFFFFFF, or one past the end) and
    /// keeps its default; neither may fail the load or point at a token that does not exist.
    /// </summary>
    [Fact]
    public void SpecialIdsOutsideTheVocabularyAreIgnoredAndTheDefaultKept()
    {
        var spm = GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureTokenizer("spm-legacy"));
        int vocab = ((string[])spm.First(kv => kv.Key == GgufTokenizerKeys.Tokens).Value).Length;
        HfTokenizer With(IEnumerable<(string Key, object Value)> good, string key, object value) =>
            GgufTokenizerReader.Load(GgufMetadataFiles.RoundTrip(good.Where(kv => kv.Key != key).Append((key, value))));

        Assert.Equal(1, With(spm, GgufTokenizerKeys.BosId, uint.MaxValue).BosTokenId);   // SentencePiece's default BOS
        Assert.Equal(1, With(spm, GgufTokenizerKeys.BosId, (uint)vocab).BosTokenId);
        Assert.Equal(2, With(spm, GgufTokenizerKeys.EosId, -7).EosTokenId);

        var qwen = GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureTokenizer("bytebpe-qwen"));
        var noEos = With(qwen, GgufTokenizerKeys.EosId, uint.MaxValue); // byte-level BPE has no default: no EOS
        Assert.Null(noEos.EosToken);
    }

    [Fact]
    public void AnUnknownPrependSchemeFailsNamingTheKey()
    {
        var spm = GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureTokenizer("spm-metaspace"))
            .Where(kv => kv.Key != GgufTokenizerKeys.LoomPrependScheme).Append((GgufTokenizerKeys.LoomPrependScheme, (object)"sometimes"));
        var e = Assert.Throws<ModelLoadException>(() => GgufTokenizerReader.Load(GgufMetadataFiles.RoundTrip(spm)));
        Assert.Contains(GgufTokenizerKeys.LoomPrependScheme, e.Message);
        Assert.Contains("sometimes", e.Message);
    }
}
