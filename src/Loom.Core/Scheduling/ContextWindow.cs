namespace Loom.Core.Scheduling;

/// <summary>
/// The one context-window rule, applied by every front end (through the engine's input processor) and again by the
/// scheduler's intake: a prompt must leave room for at least one output token, and prompt + max_tokens must fit
/// max_model_len. Every breach is a <see cref="RequestRejectedException"/> with <see cref="ExceededCode"/> and one
/// message, OpenAI's: "This model's maximum context length is N tokens. However, ...".
/// </summary>
public readonly record struct ContextWindow
{
    /// <summary>OpenAI's error code for a request over the context window.</summary>
    public const string ExceededCode = "context_length_exceeded";

    public ContextWindow(int maxModelLen) =>
        MaxModelLen = maxModelLen >= 1 ? maxModelLen : throw new ArgumentOutOfRangeException(nameof(maxModelLen), maxModelLen, "max_model_len must be at least 1.");

    /// <summary>Prompt plus output tokens one request may hold.</summary>
    public int MaxModelLen { get; }

    /// <summary>Output tokens that fit after a prompt of <paramref name="promptTokens"/> (at least 1 once the prompt passed <see cref="CheckPrompt"/>).</summary>
    public int RoomAfter(int promptTokens) => MaxModelLen - promptTokens;

    /// <summary>The prompt must leave room for one output token.</summary>
    public void CheckPrompt(int promptTokens, string promptParam)
    {
        if (promptTokens >= MaxModelLen)
            throw Exceeded($"your prompt has {promptTokens} tokens, leaving no room for output", promptParam);
    }

    /// <summary>The prompt leaves room for output, and <paramref name="maxTokens"/> fits beside it.</summary>
    public void Check(int promptTokens, int maxTokens, string promptParam, string maxTokensParam)
    {
        CheckPrompt(promptTokens, promptParam);
        long total = (long)promptTokens + maxTokens; // long: max_tokens = int.MaxValue must not wrap past the check
        if (total > MaxModelLen)
            throw Exceeded($"you requested {total} tokens ({promptTokens} in the prompt, {maxTokens} in the completion); " +
                $"at most {RoomAfter(promptTokens)} completion tokens fit", maxTokensParam);
    }

    /// <summary>A prompt whose tokenization stopped once it passed the window (its full length is not known).</summary>
    public RequestRejectedException PromptPastWindow(string promptParam) =>
        Exceeded($"your prompt has more than {MaxModelLen} tokens, leaving no room for output", promptParam);

    /// <summary>Prompt text refused untokenized: more characters than any <see cref="MaxModelLen"/> tokens can spell.</summary>
    public RequestRejectedException PromptTooManyChars(int chars, int maxChars, string promptParam) =>
        Exceeded($"your prompt has {chars} characters, more than any {MaxModelLen} tokens can spell ({maxChars})", promptParam);

    private RequestRejectedException Exceeded(string however, string param) =>
        new($"This model's maximum context length is {MaxModelLen} tokens. However, {however}.", param, ExceededCode);
}
