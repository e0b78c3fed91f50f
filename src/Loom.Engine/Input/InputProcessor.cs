using Loom.Core.Sampling;
using Loom.Core.Scheduling;
using Loom.Engine.ChatClient;
using Loom.Engine.ToolCalls;
using Loom.ChatTemplates;
using Loom.Models.Config;
using Loom.Tokenizers;

namespace Loom.Engine.Input;

/// <summary>
/// The one way a front end (the HTTP endpoints, <see cref="LoomChatClient"/>, the CLI) turns what a user asked for into
/// an <see cref="EngineRequest"/>, as vLLM's InputProcessor does: prompt text encoded (a conversation rendered with the
/// chat template first), sampling fields laid over the model's generation_config defaults, and the one
/// <see cref="ContextWindow"/> rule.
/// <para>
/// Its error vocabulary is one family: every refusal is an <see cref="ArgumentException"/> whose ParamName is the
/// request field in the API's names. A bad value is an ArgumentException (from here or SamplingParams.Validate); a
/// conversation the template cannot render is a <see cref="ChatPromptException"/>; a request that can never fit is a
/// <see cref="RequestRejectedException"/> (<see cref="ContextWindow.ExceededCode"/>). The server maps them to 400s in
/// OpenAI's shape, the CLI to one line, and IChatClient callers get them as they are.
/// </para>
/// Holds only immutable facts about the model, so one instance serves every thread.
/// </summary>
public sealed class InputProcessor
{
    private readonly ITokenizer? _tokenizer;
    private readonly ChatPrompt? _chatPrompt;
    private readonly GenerationConfig? _generationConfig;
    private readonly IToolCallConstrainer? _constrainer;
    private int _maxPromptChars; // 0 until first needed (it scans the vocabulary)

    /// <param name="tokenizer">Null = token-id prompts only.</param>
    /// <param name="vocabSize">Prompt ids must be below it; null = the tokenizer's vocabulary (or unchecked here without one).</param>
    /// <param name="toolCallParser">The family tool calls are read with (--tool-call-parser); null = picked from the chat template.</param>
    /// <param name="constrainer">The grammar engine that enforces tool_choice "required" and named functions; null = refuse them.</param>
    public InputProcessor(ITokenizer? tokenizer, IChatTemplate? chatTemplate, GenerationConfig? generationConfig, int maxModelLen,
        int? vocabSize = null, ToolCallParser? toolCallParser = null, IToolCallConstrainer? constrainer = null)
    {
        ToolCallParser = toolCallParser ?? ToolCallParsers.FromTemplate((chatTemplate as JinjaChatTemplate)?.Source);
        _constrainer = constrainer;
        _tokenizer = tokenizer;
        _chatPrompt = tokenizer is null ? null : new ChatPrompt(tokenizer, chatTemplate);
        _generationConfig = generationConfig;
        Window = new ContextWindow(maxModelLen);
        VocabSize = vocabSize ?? tokenizer?.VocabSize;
    }

    public ContextWindow Window { get; }

    /// <summary>How this model's tool calls are read out of its output; null when neither the flag nor the template says.</summary>
    public ToolCallParser? ToolCallParser { get; }
    public int? VocabSize { get; }

    /// <summary>Renders conversations (null without a tokenizer).</summary>
    public ChatPrompt? ChatPrompt => _chatPrompt;

    /// <summary>
    /// Characters past which prompt text cannot fit the window whatever it holds (see <see cref="PromptBounds"/>):
    /// longer text is refused before it is tokenized. Computed once, on first use.
    /// </summary>
    public int MaxPromptChars
    {
        get
        {
            int bound = Volatile.Read(ref _maxPromptChars);
            if (bound == 0)
                Volatile.Write(ref _maxPromptChars, bound = PromptBounds.MaxChars(RequireTokenizer("prompt"), Window.MaxModelLen));
            return bound;
        }
    }

    /// <summary>
    /// Prompt text to token ids without paying for prompts that cannot fit: text past <see cref="MaxPromptChars"/> is
    /// refused untokenized, and tokenizing stops once the ids pass the window.
    /// </summary>
    /// <param name="cancellation">The request's: a client that leaves stops its tokenization.</param>
    public int[] EncodeText(string text, bool addSpecialTokens, string param = "prompt", CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokenizer = RequireTokenizer(param);
        if (text.Length > MaxPromptChars) throw Window.PromptTooManyChars(text.Length, MaxPromptChars, param);
        var ids = tokenizer.Encode(text, new EncodeOptions(addSpecialTokens, Window.MaxModelLen, cancellation));
        if (ids.Length > Window.MaxModelLen) throw Window.PromptPastWindow(param);
        return ids;
    }

    /// <summary>
    /// A conversation to prompt ids as transformers' apply_chat_template(tokenize=True): rendered with the chat template,
    /// then encoded without adding special tokens (the template writes them), bounded as <see cref="EncodeText"/>.
    /// </summary>
    /// <param name="tools">The request's tools (<see cref="ToolCallPlan.TemplateTools"/>), listed by the template; null = none.</param>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true, bool continueFinalMessage = false,
        CancellationToken cancellation = default, IReadOnlyList<object?>? tools = null)
    {
        var chat = _chatPrompt ?? throw new ArgumentException("The model has no tokenizer; a conversation cannot be encoded.", "messages");
        return EncodeText(chat.Render(messages, addGenerationPrompt, continueFinalMessage, tools), addSpecialTokens: false, "messages", cancellation);
    }

    /// <summary>What a chat request's tools, tool_choice and parallel_tool_calls mean here (see <see cref="ToolCallPlan"/>).</summary>
    public ToolCallPlan PlanTools(IReadOnlyList<ToolFunction>? tools, ToolChoice? choice, bool? parallelToolCalls) =>
        ToolCallPlan.Create(tools, choice, parallelToolCalls, ToolCallParser, _constrainer is not null);

    /// <summary>
    /// A request as its tool plan needs it: special tokens kept in the text when the family's call marker is one
    /// (unless the request chose), and the output constrained to calls when the plan says so.
    /// </summary>
    public EngineRequest ApplyTools(EngineRequest request, ToolCallPlan plan, bool? skipSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.Parser is { NeedsSpecialTokens: true } && skipSpecialTokens is null)
            request = request with { Params = request.Params with { SkipSpecialTokens = false } };
        return plan.Constraint is { } constraint ? _constrainer!.Constrain(request, constraint) : request;
    }

    /// <summary>Token ids given as the prompt must lie inside the vocabulary (when it is known).</summary>
    public void CheckTokenIds(IReadOnlyList<int> ids, string param = "prompt")
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (VocabSize is not { } vocab) return;
        for (int i = 0; i < ids.Count; i++)
            if ((uint)ids[i] >= (uint)vocab)
                throw new ArgumentException($"Token id {ids[i]} at position {i} is outside the vocabulary [0, {vocab}).", param);
    }

    /// <summary>
    /// The engine request for a prompt already in token ids (from <see cref="EncodeText"/>, <see cref="EncodeChat"/>, or
    /// given as ids): not empty, inside the vocabulary, and sampled as <see cref="BuildSampling"/> says.
    /// </summary>
    public EngineRequest Process(string requestId, int[] promptTokenIds, SamplingRequest sampling)
    {
        ArgumentNullException.ThrowIfNull(promptTokenIds);
        ArgumentNullException.ThrowIfNull(sampling);
        if (promptTokenIds.Length == 0)
            throw new ArgumentException("The prompt is empty: it holds no tokens.", sampling.PromptParam);
        CheckTokenIds(promptTokenIds, sampling.PromptParam);
        return new EngineRequest(requestId, promptTokenIds, BuildSampling(sampling, promptTokenIds.Length));
    }

    /// <summary>
    /// The request's fields over generation_config's defaults (vLLM's --generation-config auto), with the context window
    /// enforced: the prompt must leave room for one token, and an explicit max_tokens must fit beside it. Without one,
    /// max_tokens is generation_config's max_new_tokens, else the request's fallback, capped by the room left.
    /// </summary>
    public SamplingParams BuildSampling(SamplingRequest request, int promptTokens)
    {
        ArgumentNullException.ThrowIfNull(request);
        Window.CheckPrompt(promptTokens, request.PromptParam);
        int room = Window.RoomAfter(promptTokens);
        if (request.MaxTokens is { } requested)
        {
            if (requested < 1)
                throw new ArgumentException($"{request.MaxTokensParam} must be at least 1, got {requested}.", request.MaxTokensParam);
            Window.Check(promptTokens, requested, request.PromptParam, request.MaxTokensParam);
        }
        var p = GenerationDefaults.BaseParams(_generationConfig);
        return (p with
        {
            N = request.N ?? 1,
            MaxTokens = request.MaxTokens ?? GenerationDefaults.DefaultMaxTokens(_generationConfig, request.FallbackMaxTokens ?? room, room),
            Temperature = request.Temperature ?? p.Temperature,
            TopP = request.TopP ?? p.TopP,
            TopK = request.TopK ?? p.TopK,
            MinP = request.MinP ?? p.MinP,
            PresencePenalty = request.PresencePenalty ?? p.PresencePenalty,
            FrequencyPenalty = request.FrequencyPenalty ?? p.FrequencyPenalty,
            RepetitionPenalty = request.RepetitionPenalty ?? p.RepetitionPenalty,
            Seed = request.Seed,
            Stop = request.Stop ?? [],
            StopTokenIds = request.StopTokenIds ?? [],
            IgnoreEos = request.IgnoreEos ?? false,
            MinTokens = request.MinTokens ?? 0,
            IncludeStopStrInOutput = request.IncludeStopStrInOutput ?? false,
            SkipSpecialTokens = request.SkipSpecialTokens ?? true,
            Logprobs = request.Logprobs,
            PromptLogprobs = request.PromptLogprobs,
            LogitBias = request.LogitBias,
        }).Validate();
    }

    private ITokenizer RequireTokenizer(string param) =>
        _tokenizer ?? throw new ArgumentException("The model has no tokenizer; give the prompt as token ids.", param);
}
