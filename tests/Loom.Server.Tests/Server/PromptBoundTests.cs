using Loom.Engine.Input;
using Loom.Tests;
using Loom.Tokenizers;

namespace Loom.Server.Tests.Server;

/// <summary>Issue 16, defect 6: the bounds that let the server refuse a prompt without tokenizing all of it.</summary>
public sealed class PromptBoundTests
{
    private static readonly HfTokenizer Demo = HfTokenizer.FromDirectory(RepoPaths.DemoModel);

    [Fact]
    public void Token_limited_encode_stops_soon_after_the_limit_with_a_prefix_of_the_full_encoding()
    {
        var text = string.Concat(Enumerable.Repeat("Paged attention keeps the KV cache in blocks. ", 200));
        var full = Demo.Encode(text);
        var limited = Demo.Encode(text, new EncodeOptions(MaxTokens: 50));
        Assert.InRange(limited.Length, 51, 80);
        Assert.Equal(full[..limited.Length], limited);
    }

    [Fact]
    public void Token_limited_encode_under_the_limit_equals_encode()
    {
        const string text = "What is paged attention?";
        Assert.Equal(Demo.Encode(text, addSpecialTokens: true), Demo.Encode(text, new EncodeOptions(AddSpecialTokens: true, MaxTokens: 1000)));
    }

    [Fact]
    public void No_text_that_fits_the_window_passes_the_char_bound()
    {
        int bound = PromptBounds.MaxChars(Demo, maxModelLen: 8);
        int longest = Enumerable.Range(0, Demo.VocabSize).Max(id => Demo.IdToToken(id)?.Length ?? 0);
        Assert.Equal(8 * Math.Max(longest, PromptBounds.MinCharsPerToken), bound);
    }
}
