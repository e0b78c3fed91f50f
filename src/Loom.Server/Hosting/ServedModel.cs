using Loom.ChatTemplates;
using Loom.Engine;
using Loom.Engine.ChatClient;
using Loom.Models.Config;
using Loom.Tokenizers;

namespace Loom.Server.Hosting;

/// <summary>Everything the endpoints need about the model being served, and the engine that runs it.</summary>
public sealed record ServedModel(
    string Name,
    IEngineClient Engine,
    ITokenizer Tokenizer,
    IChatTemplate? ChatTemplate,
    GenerationConfig GenerationConfig,
    int MaxModelLen)
{
    /// <summary>Disposed when the server stops (the engine and the loaded weights), if the server owns them.</summary>
    public IAsyncDisposable? Owner { get; init; }
    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;

    public ChatPrompt ChatPrompt { get; } = new(Tokenizer, ChatTemplate);

    private int _maxPromptChars;

    /// <summary>
    /// Characters past which a prompt cannot fit the window whatever it holds: each token covers at most as many
    /// characters as the longest vocabulary entry (byte-level entries spell one char per byte), so longer text is
    /// refused before it is tokenized. Computed once, on first use.
    /// </summary>
    public int MaxPromptChars
    {
        get
        {
            int bound = Volatile.Read(ref _maxPromptChars);
            if (bound == 0) Volatile.Write(ref _maxPromptChars, bound = PromptBounds.MaxChars(Tokenizer, MaxModelLen));
            return bound;
        }
    }
}
