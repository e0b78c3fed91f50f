using Loom.Server.Api;
using Loom.Server.Hosting;
using Loom.Tokenizers;

namespace Loom.Server.Endpoints;

/// <summary>
/// Prompt text to token ids without paying for prompts that cannot fit: text past the model's character bound is
/// refused untokenized, and tokenizing stops once the ids pass the window. Runs under the server's tokenization gate.
/// </summary>
internal static class PromptEncoder
{
    /// <summary>The ids of <paramref name="text"/>, or 400 naming <paramref name="param"/> when it leaves no room for output.</summary>
    /// <param name="cancellation">The request's: a client that leaves stops its tokenization.</param>
    public static int[] Encode(ServedModel model, string text, bool addSpecialTokens, string param, CancellationToken cancellation)
    {
        int window = model.MaxModelLen;
        if (text.Length > model.MaxPromptChars)
            throw ApiException.BadRequest(
                $"This model's maximum context length is {window} tokens. However, your prompt has {text.Length} characters, " +
                $"more than any {window} tokens can spell ({model.MaxPromptChars}).", param);
        var ids = model.Tokenizer.Encode(text, new EncodeOptions(addSpecialTokens, window, cancellation));
        if (ids.Length > window)
            throw ApiException.BadRequest(
                $"This model's maximum context length is {window} tokens. However, your prompt has more than {window} tokens, " +
                "leaving no room for output.", param);
        return ids;
    }
}
