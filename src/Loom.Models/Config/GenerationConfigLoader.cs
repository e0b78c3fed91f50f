namespace Loom.Models.Config;

/// <summary>Reads generation_config.json (sampling defaults); an absent file gives <see cref="GenerationConfig.Empty"/>.</summary>
public static class GenerationConfigLoader
{
    public const string FileName = "generation_config.json";

    public static GenerationConfig Load(string modelDir)
    {
        string path = Path.Combine(modelDir, FileName);
        if (!Path.Exists(path)) return GenerationConfig.Empty;
        using var doc = ConfigJson.Parse(path);
        if (doc.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object)
            throw new ModelLoadException($"{path}: expected a JSON object at the top level.");
        var json = new ConfigJson(doc.RootElement, path);
        return new GenerationConfig
        {
            Temperature = (float?)json.Double("temperature"),
            TopP = (float?)json.Double("top_p"),
            TopK = json.Int("top_k"),
            MinP = (float?)json.Double("min_p"),
            RepetitionPenalty = (float?)json.Double("repetition_penalty"),
            MaxNewTokens = json.Int("max_new_tokens"),
            BosTokenId = json.Int("bos_token_id"),
            EosTokenIds = json.IntOrList("eos_token_id"),
        };
    }
}
