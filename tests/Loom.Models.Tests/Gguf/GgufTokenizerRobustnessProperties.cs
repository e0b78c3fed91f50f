using CsCheck;
using Loom.Models.Gguf;

namespace Loom.Models.Tests.Gguf;

/// <summary>
/// Hostile tokenizer.ggml.* metadata (duplicate or empty tokens, short or long side arrays, ids outside the vocabulary,
/// merges naming unknown tokens, unknown names) either builds a tokenizer that encodes and decodes, or fails with a
/// <see cref="ModelLoadException"/>; never any other exception.
/// </summary>
public sealed class GgufTokenizerRobustnessProperties
{
    private static readonly string[] Pieces = ["a", "b", "ab", "ba", "\u2581", "\u2581a", " ", "<0x41>", "<s>", "</s>", "", "ĠA", "Ġ"];

    [Fact]
    public void ArbitraryTokenizerMetadataLoadsOrFailsWithModelLoadException()
    {
        int built = 0, failed = 0;
        Gen.Int.Sample(seed =>
        {
            var metadata = new GgufMetadata(RandomMetadata(new Random(seed)), "fuzz.gguf");
            try
            {
                var tokenizer = GgufTokenizerReader.Load(metadata);
                int[] ids = tokenizer.Encode("ab ba <s>\u00e9A", addSpecialTokens: true);
                tokenizer.Decode(ids);
                tokenizer.Decode([-1, 0, int.MaxValue], skipSpecialTokens: true);
                Interlocked.Increment(ref built);
            }
            catch (ModelLoadException)
            {
                Interlocked.Increment(ref failed); // expected for much of the random metadata
            }
        }, iter: 2000);
        Assert.True(built > 100 && failed > 100, $"{built} built, {failed} failed: the generator should exercise both outcomes");
    }

    private static Dictionary<string, object> RandomMetadata(Random r)
    {
        T Pick<T>(params T[] choices) => choices[r.Next(choices.Length)];
        var values = new Dictionary<string, object> { [GgufTokenizerKeys.Model] = Pick("gpt2", "llama", "llama", "bert") };
        var tokens = Enumerable.Range(0, r.Next(1, 14)).Select(_ => Pick(Pieces) + (r.Next(3) == 0 ? Pick(Pieces) : "")).ToArray();
        values[GgufTokenizerKeys.Tokens] = tokens;
        int Length() => r.Next(4) == 0 ? r.Next(0, 20) : tokens.Length;
        if (r.Next(3) > 0) values[GgufTokenizerKeys.TokenType] = Enumerable.Range(0, Length()).Select(_ => r.Next(-2, 9)).ToArray();
        if (r.Next(2) == 0) values[GgufTokenizerKeys.Scores] = Enumerable.Range(0, Length()).Select(_ => (float)(r.NextDouble() * -10)).ToArray();
        if (r.Next(4) > 0)
            values[GgufTokenizerKeys.Merges] = Enumerable.Range(0, r.Next(0, 6))
                .Select(_ => r.Next(6) == 0 ? Pick(Pieces) : Pick(tokens) + " " + Pick(tokens)).ToArray();
        foreach (string key in new[] { GgufTokenizerKeys.BosId, GgufTokenizerKeys.EosId, GgufTokenizerKeys.UnknownId, GgufTokenizerKeys.PaddingId })
            if (r.Next(2) == 0) values[key] = Pick<object>((uint)r.Next(0, 16), uint.MaxValue, -3, (ulong)r.Next(0, 16));
        if (r.Next(2) == 0) values[GgufTokenizerKeys.AddBos] = r.Next(2) == 0;
        if (r.Next(2) == 0) values[GgufTokenizerKeys.AddEos] = r.Next(2) == 0;
        if (r.Next(2) == 0) values[GgufTokenizerKeys.Pre] = Pick("default", "qwen2", "llama-bpe", "gpt-2", "smaug-bpe", "unheard-of");
        if (r.Next(3) == 0) values[GgufTokenizerKeys.LoomPrependScheme] = Pick("first", "always", "never", "sometimes");
        if (r.Next(3) == 0) values[GgufTokenizerKeys.AddSpacePrefix] = r.Next(2) == 0;
        if (r.Next(3) == 0) values[GgufTokenizerKeys.ChatTemplate] = "{{ messages[0].content }}";
        return values;
    }
}
