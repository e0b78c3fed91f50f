using Loom.Tokenizers;

namespace Loom.Bench.Datasets;

public enum PromptFormat
{
    /// <summary>Send token ids: the prompt has exactly the requested length.</summary>
    TokenIds,
    /// <summary>Send text decoded from token ids: needs a tokenizer; lengths are re-counted after decoding.</summary>
    Text,
}

/// <summary>
/// Turns requested token counts into prompts of random token ids, and into text when the format asks for text.
/// Special tokens are never drawn when a tokenizer says which they are.
/// </summary>
public sealed class PromptFactory
{
    private const int MaxLengthFixRounds = 10;
    private readonly int _vocabSize;
    private readonly ITokenizer? _tokenizer;
    private readonly bool[]? _isSpecial; // [vocab]: ids never put into a random prompt

    public PromptFactory(int vocabSize, PromptFormat format, ITokenizer? tokenizer = null)
    {
        if (vocabSize < 2) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "vocabulary size must be at least 2.");
        if (format == PromptFormat.Text && tokenizer is null)
            throw new ArgumentException("text prompts need a tokenizer (pass --tokenizer, or --model with a local checkpoint folder).", nameof(tokenizer));
        _vocabSize = vocabSize;
        Format = format;
        _tokenizer = tokenizer;
        if (tokenizer is not null)
        {
            _isSpecial = new bool[vocabSize];
            for (int id = 0; id < vocabSize; id++) _isSpecial[id] = tokenizer.IsSpecial(id);
            if (_isSpecial.All(s => s)) throw new ArgumentException("every token of the vocabulary is special.", nameof(tokenizer));
        }
    }

    public PromptFormat Format { get; }
    public ITokenizer? Tokenizer => _tokenizer;
    public int VocabSize => _vocabSize;

    public int[] RandomTokens(int count, Random rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var ids = new int[count];
        for (int i = 0; i < count; i++)
        {
            int id;
            do id = rng.Next(_vocabSize); while (_isSpecial is not null && _isSpecial[id]);
            ids[i] = id;
        }
        return ids;
    }

    /// <summary>A request whose prompt is the given ids (or their text); PromptLen is what the server will count.</summary>
    public SampleRequest Make(int[] promptIds, int outputLen, Random rng)
    {
        if (Format == PromptFormat.TokenIds) return new SampleRequest(BenchPrompt.OfTokens(promptIds), promptIds.Length, outputLen);
        var (text, length) = DecodeToLength(promptIds, rng);
        return new SampleRequest(BenchPrompt.OfText(text), length, outputLen);
    }

    /// <summary>A text request whose length the tokenizer counts (or 0 when none is known).</summary>
    public SampleRequest MakeText(string prompt, int outputLen) =>
        new(BenchPrompt.OfText(prompt), _tokenizer?.Encode(prompt).Length ?? 0, outputLen);

    /// <summary>
    /// Decoded random ids rarely re-encode to the same count (merges across token borders); vLLM's remedy is applied:
    /// re-encode, then truncate or pad with fresh random ids, a few rounds.
    /// </summary>
    private (string Text, int Length) DecodeToLength(int[] ids, Random rng)
    {
        int target = ids.Length;
        var current = ids;
        string text = _tokenizer!.Decode(current);
        for (int round = 0; round < MaxLengthFixRounds; round++)
        {
            var encoded = _tokenizer.Encode(text);
            if (encoded.Length == target) return (text, target);
            current = encoded.Length > target ? encoded[..target] : [.. encoded, .. RandomTokens(target - encoded.Length, rng)];
            text = _tokenizer.Decode(current);
        }
        return (text, _tokenizer.Encode(text).Length);
    }
}
