using System.Text;
using Loom.Grammar.Vocab;
using Loom.Tests;

namespace Loom.Grammar.Tests;

/// <summary>Vocabularies for tests: small synthetic ones, and a real tokenizer's from tests/fixtures.</summary>
internal static class TestVocabularies
{
    /// <summary>Every string of 1..maxLen characters over the alphabet, plus extra tokens; the last id is EOS.</summary>
    public static TokenVocabulary Synthetic(string alphabet, int maxLen, params string[] extra)
    {
        var tokens = new List<byte[]?>();
        void AddAll(string prefix, int depth)
        {
            if (prefix.Length > 0) tokens.Add(Encoding.UTF8.GetBytes(prefix));
            if (depth == maxLen) return;
            foreach (char c in alphabet) AddAll(prefix + c, depth + 1);
        }
        AddAll("", 0);
        foreach (string e in extra) tokens.Add(Encoding.UTF8.GetBytes(e));
        tokens.Add(Encoding.UTF8.GetBytes("a")); // a duplicate byte string under another id
        tokens.Add(null); // EOS: no bytes
        return new TokenVocabulary(tokens, [tokens.Count - 1]);
    }

    private static readonly Lazy<TokenVocabulary?> QwenFixture = new(() => LoadFixture("bytebpe-qwen"));

    /// <summary>The byte-level BPE fixture tokenizer's vocabulary (3k tokens), EOS = &lt;|im_end|&gt;.</summary>
    public static TokenVocabulary Qwen => QwenFixture.Value ?? throw new InvalidOperationException("fixture tokenizer missing");

    private static TokenVocabulary? LoadFixture(string name)
    {
        string path = Path.Combine(RepoPaths.Root, "tests", "fixtures", "tokenizers", name, "tokenizer.json");
        return File.Exists(path) ? TokenizerJsonVocabulary.Load(path, ["<|im_end|>"]) : null;
    }
}
