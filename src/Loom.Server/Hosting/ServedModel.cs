using Loom.ChatTemplates;
using Loom.Engine;
using Loom.Engine.ChatClient;
using Loom.Engine.Input;
using Loom.Engine.StructuredOutput;
using Loom.Engine.ToolCalls;
using Loom.Models.Config;
using Loom.Tokenizers;

namespace Loom.Server.Hosting;

/// <summary>Everything the endpoints need about the model being served, and the engine that runs it.</summary>
/// <param name="ToolCallParser">How tool calls are read from its output (--tool-call-parser); null = picked from the chat template.</param>
public sealed record ServedModel(
    string Name,
    IEngineClient Engine,
    ITokenizer Tokenizer,
    IChatTemplate? ChatTemplate,
    GenerationConfig GenerationConfig,
    int MaxModelLen,
    ToolCallParser? ToolCallParser = null)
{
    /// <summary>Disposed when the server stops (the engine and the loaded weights), if the server owns them.</summary>
    public IAsyncDisposable? Owner { get; init; }
    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>Builds every engine request the endpoints send, as LoomChatClient and the CLI build theirs.</summary>
    public InputProcessor Input => LazyInitializer.EnsureInitialized(ref _input, () => new(Tokenizer, ChatTemplate, GenerationConfig,
        MaxModelLen, toolCallParser: ToolCallParser, constrainer: new GrammarToolCallConstrainer(() => Grammars)));
    private InputProcessor? _input;

    /// <summary>The ids that end a sequence (allowed exactly where a grammar can end).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = GenerationConfig.EosTokenIds;

    /// <summary>Builds the token masks of the grammars in <see cref="Grammars"/> (set before the first request).</summary>
    public ITokenMaskCompiler MaskCompiler { get; init; } = TokenMaskCompiler.Instance;

    /// <summary>Structured-output grammars, compiled once per distinct constraint; built on first use (it reads the vocabulary).</summary>
    public GrammarCompilationCache Grammars => LazyInitializer.EnsureInitialized(ref _grammars,
        () => new GrammarCompilationCache(TokenizerVocabulary.From(Tokenizer, EosTokenIds), masks: MaskCompiler));
    private GrammarCompilationCache? _grammars;

    public ChatPrompt ChatPrompt => Input.ChatPrompt!; // the served model always has a tokenizer

    /// <summary>Characters past which a prompt cannot fit the window whatever it holds (<see cref="InputProcessor.MaxPromptChars"/>).</summary>
    public int MaxPromptChars => Input.MaxPromptChars;
}
