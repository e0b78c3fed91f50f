using Loom.Core.Sampling;
using Loom.Models.Config;

namespace Loom.Engine.Input;

/// <summary>
/// The model's generation_config.json as the starting SamplingParams of every request (vLLM's
/// --generation-config auto): request fields that are present override these, absent ones keep them.
/// </summary>
internal static class GenerationDefaults
{
    public static SamplingParams BaseParams(GenerationConfig? config)
    {
        var p = new SamplingParams();
        if (config is null) return p;
        return p with
        {
            Temperature = config.Temperature ?? p.Temperature,
            TopP = config.TopP ?? p.TopP,
            TopK = config.TopK ?? p.TopK,
            MinP = config.MinP ?? p.MinP,
            RepetitionPenalty = config.RepetitionPenalty ?? p.RepetitionPenalty,
        };
    }

    /// <summary>
    /// max_tokens when the request gives none: generation_config's max_new_tokens, else the fallback, never past the
    /// <paramref name="room"/> the context window leaves.
    /// </summary>
    public static int DefaultMaxTokens(GenerationConfig? config, int fallback, int room) =>
        Math.Max(1, Math.Min(config?.MaxNewTokens ?? fallback, room));
}
