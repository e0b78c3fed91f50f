using System.Text.Json;

namespace Loom.Grammar.Vocab;

/// <summary>
/// A <see cref="TokenVocabulary"/> read straight from a Hugging Face tokenizer.json (model.vocab and added_tokens),
/// so that tests and benchmarks need no tokenizer. The spelling is taken from the decoder: ByteLevel, or
/// SentencePiece-style (ByteFallback/Metaspace/Replace '▁').
/// </summary>
public static class TokenizerJsonVocabulary
{
    /// <param name="eosTokens">Token strings that end a sequence (e.g. "&lt;|im_end|&gt;"); unknown ones are ignored.</param>
    public static TokenVocabulary Load(string tokenizerJsonPath, IEnumerable<string> eosTokens)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tokenizerJsonPath));
        var root = doc.RootElement;
        var vocab = root.GetProperty("model").GetProperty("vocab");
        var added = root.TryGetProperty("added_tokens", out var a)
            ? a.EnumerateArray().ToDictionary(t => t.GetProperty("id").GetInt32(), t => t.GetProperty("content").GetString()!)
            : [];
        int size = Math.Max(vocab.EnumerateObject().Select(p => p.Value.GetInt32()).DefaultIfEmpty(-1).Max(),
            added.Keys.DefaultIfEmpty(-1).Max()) + 1;
        var strings = new string?[size];
        foreach (var p in vocab.EnumerateObject()) strings[p.Value.GetInt32()] = p.Name;
        foreach (var (id, content) in added) strings[id] = content;
        var bytes = TokenByteDecoding.Decode(strings, SpellingOf(root), added.ContainsKey);
        var eosSet = eosTokens.ToHashSet(StringComparer.Ordinal);
        int[] eos = [.. Enumerable.Range(0, size).Where(i => strings[i] is { } s && eosSet.Contains(s))];
        return new TokenVocabulary(bytes, eos);
    }

    private static TokenSpelling SpellingOf(JsonElement root)
    {
        string text = root.TryGetProperty("decoder", out var d) && d.ValueKind == JsonValueKind.Object ? d.GetRawText() : "";
        if (text.Contains("\"ByteLevel\"", StringComparison.Ordinal)) return TokenSpelling.ByteLevel;
        if (text.Contains("ByteFallback", StringComparison.Ordinal) || text.Contains("Metaspace", StringComparison.Ordinal)
            || text.Contains('\u2581')) return TokenSpelling.SentencePiece;
        return TokenSpelling.Plain;
    }
}
