namespace Loom.Models.Config;

/// <summary>Defaults from generation_config.json (all optional); request fields override them.</summary>
public sealed record GenerationConfig
{
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public int? TopK { get; init; }
    public float? MinP { get; init; }
    public float? RepetitionPenalty { get; init; }
    public int? MaxNewTokens { get; init; }
    public int? BosTokenId { get; init; }
    /// <summary>Token ids that end generation (generation_config's eos_token_id, int or list).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public static GenerationConfig Empty { get; } = new();
}
