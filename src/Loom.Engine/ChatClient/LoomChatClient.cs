using System.Runtime.CompilerServices;
using System.Text;
using Loom.Core.Requests;
using Loom.Engine.Input;
using Loom.Engine.StructuredOutput;
using Loom.Engine.ToolCalls;
using Loom.ChatTemplates;
using Loom.Models.Config;
using Loom.Tokenizers;
using Microsoft.Extensions.AI;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using TemplateMessage = Loom.ChatTemplates.ChatMessage;

namespace Loom.Engine.ChatClient;

/// <summary>What <see cref="LoomChatClient"/> needs to know about the model besides the engine.</summary>
public sealed record LoomChatClientOptions
{
    /// <summary>Reported as ChatResponse.ModelId.</summary>
    public string ModelId { get; init; } = "loom";
    /// <summary>Prompt + output limit; requests beyond it are rejected before they reach the engine.</summary>
    public int MaxModelLen { get; init; } = 2048;
    public GenerationConfig? GenerationConfig { get; init; }
    /// <summary>max_tokens when ChatOptions.MaxOutputTokens and generation_config are both silent.</summary>
    public int DefaultMaxTokens { get; init; } = 256;
    /// <summary>How tool calls are read from the output; null = picked from the chat template.</summary>
    public ToolCallParser? ToolCallParser { get; init; }
    /// <summary>Compiled grammars to share (a server's, for the same vocabulary); null = the client's own, built on first use.</summary>
    public GrammarCompilationCache? Grammars { get; init; }
}

/// <summary>
/// Microsoft.Extensions.AI's <see cref="IChatClient"/> over the in-process engine: a .NET application embeds Loom
/// without HTTP. Requests are built exactly as the server builds them, by an <see cref="InputProcessor"/>; its
/// refusals (ArgumentExceptions naming the field) are thrown as they are. ChatOptions.ResponseFormat and tool modes
/// that need enforcing are constrained by the same grammars the server compiles.
/// </summary>
public sealed partial class LoomChatClient : IChatClient
{
    private readonly IEngineClient _engine;
    private readonly InputProcessor _input;
    private readonly LoomChatClientOptions _options;
    private readonly ChatClientMetadata _metadata;
    private readonly ITokenizer _tokenizer;
    private GrammarCompilationCache? _grammars;

    public LoomChatClient(IEngineClient engine, ITokenizer tokenizer, IChatTemplate? template, LoomChatClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(tokenizer);
        _engine = engine;
        _tokenizer = tokenizer;
        _options = options ?? new LoomChatClientOptions();
        _grammars = _options.Grammars;
        _input = new InputProcessor(tokenizer, template, _options.GenerationConfig, _options.MaxModelLen,
            toolCallParser: _options.ToolCallParser, constrainer: new GrammarToolCallConstrainer(Grammars));
        _metadata = new ChatClientMetadata("loom", defaultModelId: _options.ModelId);
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        var calls = new List<AIContent>();
        var response = new ChatResponse { ModelId = _options.ModelId };
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            response.ResponseId ??= update.ResponseId;
            response.CreatedAt ??= update.CreatedAt;
            text.Append(update.Text);
            if (update.FinishReason is { } reason) response.FinishReason = reason;
            foreach (var content in update.Contents)
                if (content is UsageContent usage) response.Usage = usage.Details;
                else if (content is FunctionCallContent call) calls.Add(call);
        }
        List<AIContent> contents = text.Length > 0 || calls.Count == 0 ? [new TextContent(text.ToString()), .. calls] : calls;
        response.Messages = [new AiChatMessage(ChatRole.Assistant, contents) { MessageId = response.ResponseId }];
        return response;
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiChatMessage> messages,
        ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var tools = PlanTools(options);
        var prompt = _input.EncodeChat(ToTemplateMessages(messages, options), cancellation: cancellationToken, tools: tools.TemplateTools);
        var request = _input.Process(id, prompt, ToSamplingRequest(options)) with { Grammar = CompileResponseFormat(options?.ResponseFormat) };
        request = _input.ApplyTools(request, tools, skipSpecialTokens: null);
        var calls = tools.Parser?.CreateStream(tools.AllowParallel);
        var created = DateTimeOffset.UtcNow;
        int outputTokens = 0, cachedTokens = 0;

        await foreach (var output in _engine.GenerateAsync(request, cancellationToken).ConfigureAwait(false))
        {
            cachedTokens = output.CachedPromptTokens;
            foreach (var delta in output.Deltas)
            {
                if (delta.Index != 0) continue; // IChatClient has one choice; n is fixed at 1 below
                outputTokens += delta.NewTokenIds.Count;
                var (contents, finish) = calls is null
                    ? (delta.NewText.Length > 0 ? [new TextContent(delta.NewText)] : new List<AIContent>(), delta.FinishReason)
                    : ReadCalls(calls, delta);
                if (contents.Count == 0 && finish is null) continue;
                yield return new ChatResponseUpdate(ChatRole.Assistant, contents)
                {
                    ResponseId = id,
                    MessageId = id,
                    CreatedAt = created,
                    ModelId = _options.ModelId,
                    FinishReason = ToFinishReason(finish),
                };
            }
            if (!output.Finished) continue;
            var usage = new UsageDetails
            {
                InputTokenCount = output.PromptTokens,
                OutputTokenCount = outputTokens,
                TotalTokenCount = output.PromptTokens + outputTokens,
                CachedInputTokenCount = cachedTokens,
            };
            yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(usage)])
            {
                ResponseId = id, MessageId = id, CreatedAt = created, ModelId = _options.ModelId,
            };
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType == typeof(IEngineClient)) return _engine;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>The engine is owned by whoever created it; this client holds nothing of its own.</summary>
    public void Dispose() { }

    private static List<TemplateMessage> ToTemplateMessages(IEnumerable<AiChatMessage> messages, ChatOptions? options)
    {
        var result = new List<TemplateMessage>();
        if (!string.IsNullOrEmpty(options?.Instructions)) result.Add(new TemplateMessage("system", options.Instructions));
        int i = 0;
        foreach (var message in messages) AddTemplateMessages(message, i++, result);
        return result;
    }

    /// <summary>A delta through the tool-call stream: the content it released and the calls it completed.</summary>
    private static (List<AIContent> Contents, FinishReason? Finish) ReadCalls(ToolCallStream calls, CompletionDelta delta)
    {
        var update = calls.Feed(delta.NewText);
        var contents = new List<AIContent>();
        var finish = delta.FinishReason;
        if (finish is not null)
        {
            var last = calls.Finish();
            update = new ToolCallUpdate(update.Content + last.Content, [.. update.Calls, .. last.Calls], []);
            if (finish == FinishReason.Stop && calls.CallCount > 0) finish = FinishReason.ToolCalls;
        }
        if (update.Content.Length > 0) contents.Add(new TextContent(update.Content));
        foreach (var call in update.Calls) contents.Add(ToContent(call));
        return (contents, finish);
    }

    /// <summary>ChatOptions in the input processor's terms (n is 1: IChatClient has one choice).</summary>
    private SamplingRequest ToSamplingRequest(ChatOptions? options) => new()
    {
        PromptParam = "messages",
        N = 1,
        MaxTokens = options?.MaxOutputTokens,
        FallbackMaxTokens = _options.DefaultMaxTokens,
        Temperature = options?.Temperature,
        TopP = options?.TopP,
        TopK = options?.TopK,
        PresencePenalty = options?.PresencePenalty,
        FrequencyPenalty = options?.FrequencyPenalty,
        Seed = options?.Seed,
        Stop = options?.StopSequences?.ToArray(),
        MinP = GetAdditional(options, "min_p"),
        RepetitionPenalty = GetAdditional(options, "repetition_penalty"),
    };

    /// <summary>Sampling knobs ChatOptions has no property for travel in AdditionalProperties under their API names.</summary>
    private static float? GetAdditional(ChatOptions? options, string key) =>
        options?.AdditionalProperties?.TryGetValue(key, out var value) == true && value is not null
            ? Convert.ToSingle(value, System.Globalization.CultureInfo.InvariantCulture)
            : null;
}
