using Loom.Server.Api;
using Loom.Core.Sampling;
using Loom.Tokenizers;

namespace Loom.Server.Endpoints;

/// <summary>Engine logprobs in the two API shapes (chat's content list, completions' parallel lists).</summary>
internal sealed class LogprobFormatter(ITokenizer tokenizer)
{
    /// <summary>JSON has no -Infinity; vLLM reports -9999 for impossible tokens, and so do we.</summary>
    private const float Floor = -9999f;

    public string TokenText(int id)
    {
        ReadOnlySpan<int> one = [id];
        return tokenizer.Decode(one);
    }

    public static float Clamp(float logprob) => float.IsNaN(logprob) || logprob < Floor ? Floor : logprob;

    public List<ChatTokenLogprob> ToChat(IReadOnlyList<TokenLogprob> logprobs)
    {
        var result = new List<ChatTokenLogprob>(logprobs.Count);
        foreach (var lp in logprobs)
        {
            var top = new List<ChatTopLogprob>(lp.Top.Count);
            foreach (var (id, value) in lp.Top)
            {
                var text = TokenText(id);
                top.Add(new ChatTopLogprob(text, Clamp(value), Utf8(text)));
            }
            var token = TokenText(lp.TokenId);
            result.Add(new ChatTokenLogprob(token, Clamp(lp.Logprob), Utf8(token), top));
        }
        return result;
    }

    /// <summary>Appends to the completions lists; <paramref name="textOffset"/> is the choice text's length so far.</summary>
    public void AppendCompletion(IReadOnlyList<TokenLogprob> logprobs, CompletionLogprobBuilder into, ref int textOffset)
    {
        foreach (var lp in logprobs)
        {
            var token = TokenText(lp.TokenId);
            into.Tokens.Add(token);
            into.TokenLogprobs.Add(Clamp(lp.Logprob));
            into.TopLogprobs.Add(TopOf(lp));
            into.TextOffset.Add(textOffset);
            textOffset += token.Length;
        }
    }

    /// <summary>
    /// Appends a prompt's logprobs (echo): one entry per prompt token, the first with null logprob and null top
    /// alternatives; text offsets count from the start of the echoed prompt.
    /// </summary>
    public void AppendPrompt(IReadOnlyList<TokenLogprob?> logprobs, IReadOnlyList<int> promptIds, CompletionLogprobBuilder into)
    {
        int textOffset = 0;
        for (int i = 0; i < promptIds.Count; i++)
        {
            var lp = i < logprobs.Count ? logprobs[i] : null;
            var token = TokenText(promptIds[i]);
            into.Tokens.Add(token);
            into.TokenLogprobs.Add(lp is null ? null : Clamp(lp.Logprob));
            into.TopLogprobs.Add(lp is null ? null : TopOf(lp));
            into.TextOffset.Add(textOffset);
            textOffset += token.Length;
        }
    }

    private Dictionary<string, float> TopOf(TokenLogprob lp)
    {
        var top = new Dictionary<string, float>(lp.Top.Count);
        foreach (var (id, value) in lp.Top) top.TryAdd(TokenText(id), Clamp(value));
        return top;
    }

    private static int[] Utf8(string text) => System.Text.Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();
}

/// <summary>Mutable lists behind one choice's completions logprobs.</summary>
internal sealed class CompletionLogprobBuilder
{
    public List<string> Tokens { get; } = [];
    public List<float?> TokenLogprobs { get; } = [];
    public List<Dictionary<string, float>?> TopLogprobs { get; } = [];
    public List<int> TextOffset { get; } = [];

    public CompletionLogprobs Build() => new(Tokens, TokenLogprobs, TopLogprobs, TextOffset);
}
