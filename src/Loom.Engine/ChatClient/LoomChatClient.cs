using System.Runtime.CompilerServices;
using System.Text;
using Loom.Core.Requests;
using Loom.Engine.Input;
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
}

/// <summary>
/// Microsoft.Extensions.AI's <see cref="IChatClient"/> over the in-process engine: a .NET application embeds Loom
/// without HTTP. Requests are built exactly as the server builds them, by an <see cref="InputProcessor"/>; its
/// refusals (ArgumentExceptions naming the field) are thrown as they are.
/// </summary>
public sealed class LoomChatClient : IChatClient
{
    private readonly IEngineClient _engine;
    private readonly InputProcessor _input;
    private readonly LoomChatClientOptions _options;
    private readonly ChatClientMetadata _metadata;

    public LoomChatClient(IEngineClient engine, ITokenizer tokenizer, IChatTemplate? template, LoomChatClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(tokenizer);
        _engine = engine;
        _options = options ?? new LoomChatClientOptions();
        _input = new InputProcessor(tokenizer, template, _options.GenerationConfig, _options.MaxModelLen);
        _metadata = new ChatClientMetadata("loom", defaultModelId: _options.ModelId);
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        var response = new ChatResponse { ModelId = _options.ModelId };
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            response.ResponseId ??= update.ResponseId;
            response.CreatedAt ??= update.CreatedAt;
            text.Append(update.Text);
            if (update.FinishReason is { } reason) response.FinishReason = reason;
            foreach (var usage in update.Contents.OfType<UsageContent>()) response.Usage = usage.Details;
        }
        response.Messages = [new AiChatMessage(ChatRole.Assistant, text.ToString()) { MessageId = response.ResponseId }];
        return response;
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiChatMessage> messages,
        ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var request = _input.Process(id, _input.EncodeChat(ToTemplateMessages(messages, options), cancellation: cancellationToken),
            ToSamplingRequest(options));
        var created = DateTimeOffset.UtcNow;
        int outputTokens = 0, cachedTokens = 0;

        await foreach (var output in _engine.GenerateAsync(request, cancellationToken).ConfigureAwait(false))
        {
            cachedTokens = output.CachedPromptTokens;
            foreach (var delta in output.Deltas)
            {
                if (delta.Index != 0) continue; // IChatClient has one choice; n is fixed at 1 below
                outputTokens += delta.NewTokenIds.Count;
                if (delta.NewText.Length == 0 && delta.FinishReason is null) continue;
                yield return new ChatResponseUpdate(ChatRole.Assistant, delta.NewText)
                {
                    ResponseId = id,
                    MessageId = id,
                    CreatedAt = created,
                    ModelId = _options.ModelId,
                    FinishReason = ToFinishReason(delta.FinishReason),
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
        foreach (var message in messages)
        {
            foreach (var content in message.Contents)
                if (content is not TextContent and not UsageContent)
                    throw new ArgumentException(
                        $"messages[{i}] holds {content.GetType().Name}; only text content is supported.", nameof(messages));
            result.Add(new TemplateMessage(message.Role.Value, message.Text));
            i++;
        }
        return result;
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

    /// <summary>Microsoft.Extensions.AI's finish reasons; "abort" has no counterpart there and keeps vLLM's word.</summary>
    private static ChatFinishReason? ToFinishReason(FinishReason? reason) => reason switch
    {
        null => null,
        FinishReason.Stop => ChatFinishReason.Stop,
        FinishReason.Length => ChatFinishReason.Length,
        FinishReason.Abort => new ChatFinishReason("abort"),
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "Unknown finish reason."),
    };
}
