using System.Text.Json;
using Loom.Models.Gguf;
using Loom.Models.Tests.Checkpoints;
using Loom.Tests;
using Loom.Tokenizers;

namespace Loom.Models.Tests.Gguf;

/// <summary>HF tokenizer → tokenizer.ggml.* metadata in convert_hf_to_gguf.py's conventions, checked through a real GGUF file.</summary>
public class GgufTokenizerWriterTests
{
    public static TheoryData<string> Tokenizers => new(GgufMetadataFiles.FixtureTokenizers);

    [Theory, MemberData(nameof(Tokenizers))]
    public void VocabularyIsCompleteUniqueAndTypedAsLlamaCppReadsIt(string name)
    {
        string dir = RepoPaths.FixtureTokenizer(name);
        var m = GgufMetadataFiles.RoundTrip(GgufTokenizerWriter.FromModelDirectory(dir));
        var hf = HfTokenizer.FromDirectory(dir);

        var tokens = m.Array<string>(GgufTokenizerKeys.Tokens)!;
        var types = m.Array<int>(GgufTokenizerKeys.TokenType)!;
        Assert.Equal(hf.VocabSize, tokens.Length);
        Assert.Equal(tokens.Length, types.Length);
        Assert.Equal(tokens.Length, tokens.Distinct(StringComparer.Ordinal).Count()); // llama.cpp asserts id_to_token.size() == token_to_id.size()
        for (int id = 0; id < tokens.Length; id++) Assert.Equal(hf.IdToToken(id), tokens[id]);
        Assert.IsType<string[]>(m.Values[GgufTokenizerKeys.Merges]);
        Assert.All(m.Array<string>(GgufTokenizerKeys.Merges)!, merge => Assert.Single(merge, ' '));
        Assert.IsType<uint>(m.Values[GgufTokenizerKeys.EosId]);
        Assert.IsType<bool>(m.Values[GgufTokenizerKeys.AddBos]);
        Assert.Equal(hf.Config.ChatTemplate, m.String(GgufTokenizerKeys.ChatTemplate));
    }

    [Fact]
    public void QwenIsGpt2WithTheQwen2PreTokenizer()
    {
        var m = GgufMetadataFiles.RoundTrip(GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureTokenizer("bytebpe-qwen")));
        Assert.Equal("gpt2", m.String(GgufTokenizerKeys.Model));
        Assert.Equal("qwen2", m.String(GgufTokenizerKeys.Pre));
        Assert.False(m.Contains(GgufTokenizerKeys.Scores));
        var types = m.Array<int>(GgufTokenizerKeys.TokenType)!;
        Assert.Equal([3, 3, 3], types[..3]); // <|endoftext|>, <|im_start|>, <|im_end|>
        Assert.All(types[3..], t => Assert.Equal((int)GgufTokenType.Normal, t));
        Assert.Equal(2, m.Int(GgufTokenizerKeys.EosId));     // eos_token <|im_end|>
        Assert.Equal(0, m.Int(GgufTokenizerKeys.PaddingId)); // pad_token <|endoftext|>
        Assert.False(m.Contains(GgufTokenizerKeys.BosId));   // bos_token null
        Assert.False(m.Bool(GgufTokenizerKeys.AddBos));
        Assert.Equal(2741, m.Array<string>(GgufTokenizerKeys.Merges)!.Length);
    }

    [Fact]
    public void Llama3IsGpt2WithTheLlamaBpePreTokenizerAndAddsBos()
    {
        var m = GgufMetadataFiles.RoundTrip(GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureTokenizer("bytebpe-llama3")));
        Assert.Equal("gpt2", m.String(GgufTokenizerKeys.Model));
        Assert.Equal("llama-bpe", m.String(GgufTokenizerKeys.Pre));
        Assert.Equal(0, m.Int(GgufTokenizerKeys.BosId));
        Assert.Equal(4, m.Int(GgufTokenizerKeys.EosId)); // <|eot_id|>
        Assert.True(m.Bool(GgufTokenizerKeys.AddBos));   // from the TemplateProcessing post-processor
        Assert.False(m.Bool(GgufTokenizerKeys.AddEos));
    }

    [Theory]
    [InlineData("spm-legacy", null)]
    [InlineData("spm-metaspace", "first")]
    public void SentencePieceIsLlamaWithByteTokensAndMergeOrderedScores(string name, string? prependScheme)
    {
        var m = GgufMetadataFiles.RoundTrip(GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureTokenizer(name)));
        Assert.Equal("llama", m.String(GgufTokenizerKeys.Model));
        Assert.Equal("default", m.String(GgufTokenizerKeys.Pre));
        var tokens = m.Array<string>(GgufTokenizerKeys.Tokens)!;
        var types = m.Array<int>(GgufTokenizerKeys.TokenType)!;
        var scores = m.Array<float>(GgufTokenizerKeys.Scores)!;
        Assert.Equal(tokens.Length, scores.Length);
        Assert.Equal([2, 3, 3], types[..3]); // <unk> UNKNOWN, <s> and </s> CONTROL
        Assert.Equal(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"), Enumerable.Range(0, tokens.Length).Where(i => types[i] == 6).Select(i => tokens[i]));
        Assert.Equal(1, m.Int(GgufTokenizerKeys.BosId));
        Assert.Equal(2, m.Int(GgufTokenizerKeys.EosId));
        Assert.Equal(0, m.Int(GgufTokenizerKeys.UnknownId));
        Assert.True(m.Bool(GgufTokenizerKeys.AddBos));
        Assert.False(m.Bool(GgufTokenizerKeys.AddEos));
        Assert.Equal(prependScheme, m.String(GgufTokenizerKeys.LoomPrependScheme));

        // The token made by merge r scores -(r+1): the earlier the merge, the higher the score.
        var merges = m.Array<string>(GgufTokenizerKeys.Merges)!;
        var index = tokens.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i);
        float previous = 0;
        foreach (var merge in merges.Take(50))
        {
            float score = scores[index[merge.Replace(" ", "")]];
            Assert.True(score <= previous, $"{merge}: {score} after {previous}");
            previous = score;
        }
    }

    [Fact]
    public void ConfigVocabSizeAbovetheTokenizerPadsWithUnusedTokens()
    {
        string dir = RepoPaths.FixtureTokenizer("bytebpe-qwen");
        string config = JsonSerializer.Serialize(new { vocab_size = 3005, eos_token_id = 1 });
        var m = GgufMetadataFiles.RoundTrip(GgufTokenizerWriter.FromJson(File.ReadAllText(Path.Combine(dir, "tokenizer.json")),
            File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")), config));
        var tokens = m.Array<string>(GgufTokenizerKeys.Tokens)!;
        Assert.Equal(3005, tokens.Length);
        Assert.Equal(["[PAD3000]", "[PAD3004]"], new[] { tokens[3000], tokens[3004] });
        Assert.All(m.Array<int>(GgufTokenizerKeys.TokenType)![3000..], t => Assert.Equal((int)GgufTokenType.Unused, t));
        Assert.Equal(2, m.Int(GgufTokenizerKeys.EosId)); // tokenizer_config.json wins over config.json, as in SpecialVocab
    }

    [Fact]
    public void ModelDirectoriesExportTheirTokenizers()
    {
        var m = GgufMetadataFiles.RoundTrip(GgufTokenizerWriter.FromModelDirectory(RepoPaths.DemoModel));
        Assert.Equal("llama-bpe", m.String(GgufTokenizerKeys.Pre));
        Assert.False(m.Bool(GgufTokenizerKeys.AddBos)); // written although false: llama.cpp would add BOS for llama-bpe by default
        Assert.Equal(4096, m.Array<string>(GgufTokenizerKeys.Tokens)!.Length);
        var llama = GgufMetadataFiles.RoundTrip(GgufTokenizerWriter.FromModelDirectory(RepoPaths.FixtureModel("llama-gqa")));
        Assert.Equal("llama", llama.String(GgufTokenizerKeys.Model));
    }

    [Fact]
    public void UnsupportedTokenizersFailNamingTheProblem()
    {
        const string wordPiece = """{"model": {"type": "WordPiece", "vocab": {"a": 0}}}""";
        var e = Assert.Throws<TokenizerFormatException>(() => GgufTokenizerWriter.FromJson(wordPiece, source: "x"));
        Assert.Contains("WordPiece", e.Message);
        const string plainBpe = """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""";
        e = Assert.Throws<TokenizerFormatException>(() => GgufTokenizerWriter.FromJson(plainBpe, source: "x"));
        Assert.Contains("byte", e.Message);
        Assert.Throws<TokenizerFormatException>(() => GgufTokenizerWriter.FromModelDirectory(Path.GetTempPath()));
    }

    /// <summary>Malformed ids and entries are TokenizerFormatExceptions naming the field, never a crash or a huge allocation.</summary>
    [Theory]
    [InlineData("""{"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": "zero"}, "merges": []}}""", "model.vocab \"a\"")]
    [InlineData("""{"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": -3}, "merges": []}}""", "model.vocab \"a\"")]
    [InlineData("""{"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 2000000000}, "merges": []}}""", "2000000001 ids")]
    [InlineData("""{"added_tokens": [{"id": 1}], "model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": []}}""", "added token 1 has no content")]
    [InlineData("""{"added_tokens": [null], "model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": []}}""", "added_tokens entry null")]
    [InlineData("""{"model": {"type": 7, "vocab": {"a": 0}, "merges": []}}""", "unexpected JSON type")]
    [InlineData("""{"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": [["a", null]]}}""", "merge [\"a\",null]")]
    public void MalformedTokenizerJsonFailsNamingTheField(string json, string expected)
    {
        var e = Assert.Throws<TokenizerFormatException>(() => GgufTokenizerWriter.FromJson(json, source: "x"));
        Assert.StartsWith("x: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ExportRefusesATokenizerWhoseSizeDiffersFromTheModel()
    {
        string dir = RepoPaths.FixtureModel("qwen2-bias-tied");
        var config = Loom.Models.Config.ModelConfigLoader.Load(dir);
        var metadata = GgufTokenizerWriter.FromJson(File.ReadAllText(Path.Combine(dir, "tokenizer.json")),
            configJson: JsonSerializer.Serialize(new { vocab_size = config.VocabSize + 8 }));
        using var weights = Loom.Models.Weights.SafetensorsWeightSource.Open(dir);
        using var temp = new TestSafetensors.TempDir();
        var e = Assert.Throws<ArgumentException>(() => GgufExporter.Export(weights, config, temp.File("m.gguf"), GgmlType.F32, metadata));
        Assert.Contains("vocab_size", e.Message);
    }
}
