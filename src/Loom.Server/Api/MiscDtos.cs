using System.Text.Json.Serialization;

namespace Loom.Server.Api;

public sealed record ModelList(string Object, IReadOnlyList<ModelCard> Data);

public sealed record ModelCard(string Id, string Object, long Created, string OwnedBy, string Root, int MaxModelLen)
{
    /// <summary>Loom's extra (vLLM's card has none): the token ids a prompt may hold are 0..vocab_size-1.</summary>
    public int? VocabSize { get; init; }
}

/// <summary>vLLM's /tokenize: either a prompt, or messages rendered with the chat template.</summary>
public sealed class TokenizeRequest
{
    public string? Model { get; set; }
    public string? Prompt { get; set; }
    public List<ChatMessageDto>? Messages { get; set; }
    public bool? AddSpecialTokens { get; set; }
    public bool? AddGenerationPrompt { get; set; }
    public bool? ContinueFinalMessage { get; set; }
    public bool? ReturnTokenStrs { get; set; }
    /// <summary>With messages: the tools the template lists, as chat completions takes them (vLLM's /tokenize does too).</summary>
    public List<ChatToolDto>? Tools { get; set; }
}

public sealed record TokenizeResponse(int Count, int MaxModelLen, IReadOnlyList<int> Tokens)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<string?>? TokenStrs { get; init; }
}

public sealed class DetokenizeRequest
{
    public string? Model { get; set; }
    public List<int>? Tokens { get; set; }
}

public sealed record DetokenizeResponse(string Prompt);
