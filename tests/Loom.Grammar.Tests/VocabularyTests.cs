using System.Text;
using Loom.Grammar.Vocab;

namespace Loom.Grammar.Tests;

public class VocabularyTests
{
    [Fact]
    public void Byte_level_and_sentencepiece_spellings_decode_to_bytes()
    {
        Assert.Equal(" hello"u8.ToArray(), TokenByteDecoding.Decode("Ġhello", TokenSpelling.ByteLevel));
        Assert.Equal("\n"u8.ToArray(), TokenByteDecoding.Decode("Ċ", TokenSpelling.ByteLevel));
        Assert.Equal(Encoding.UTF8.GetBytes("é"), TokenByteDecoding.Decode("Ã©", TokenSpelling.ByteLevel));
        Assert.Equal(" hello"u8.ToArray(), TokenByteDecoding.Decode("\u2581hello", TokenSpelling.SentencePiece));
        Assert.Equal(new byte[] { 0xE2 }, TokenByteDecoding.Decode("<0xE2>", TokenSpelling.SentencePiece));
    }

    [Fact]
    public void Fixture_vocabularies_load_with_special_tokens_bytesless()
    {
        var qwen = TestVocabularies.Qwen;
        Assert.Single(qwen.EosTokenIds);
        Assert.Equal(0, qwen.BytesOf(qwen.EosTokenIds[0]).Length);
        string spm = Path.Combine(Loom.Tests.RepoPaths.Fixtures, "tokenizers", "spm-legacy", "tokenizer.json");
        var llama2 = TokenizerJsonVocabulary.Load(spm, ["</s>"]);
        Assert.Single(llama2.EosTokenIds);
        int spaceTokens = Enumerable.Range(0, llama2.Size).Count(t => llama2.BytesOf(t).StartsWith(" "u8));
        Assert.True(spaceTokens > 100);
    }
}
