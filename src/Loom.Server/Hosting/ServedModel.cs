using Loom.Engine;
using Loom.Engine.ChatClient;
using Loom.Models.ChatTemplates;
using Loom.Models.Config;
using Loom.Models.Tokenization;

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
}
