using System.Text.Json;

namespace Loom.Engine.Speculative;

/// <summary>
/// vLLM's <c>--speculative-config</c>: which proposer drafts tokens and how many the target verifies per step.
/// Method <c>ngram</c> (prompt lookup) or <c>draft_model</c> (a second, smaller checkpoint with the same vocabulary,
/// optionally quantized while loading, e.g. a Q4_0 copy of the target itself).
/// </summary>
public sealed record SpeculativeConfig
{
    /// <summary>vLLM's default n-gram length when neither prompt_lookup_min nor prompt_lookup_max is given.</summary>
    public const int DefaultPromptLookup = 5;

    /// <summary>The method name of a draft model.</summary>
    public const string DraftModelMethod = "draft_model";

    /// <summary>"ngram" or "draft_model".</summary>
    public string Method { get; init; } = "ngram";
    /// <summary>model: the draft checkpoint (a model directory or .gguf file) of method draft_model; null for ngram.</summary>
    public string? Model { get; init; }
    /// <summary>quantization: "q8_0" or "q4_0" to quantize the draft's matrices while loading it; null = as stored.</summary>
    public string? Quantization { get; init; }
    /// <summary>Whether a draft model proposes (and so needs its own executor and KV lookahead).</summary>
    public bool IsDraftModel => Method == DraftModelMethod;
    /// <summary>num_speculative_tokens: most drafts proposed (and verified) per request per step.</summary>
    public int NumSpeculativeTokens { get; init; }
    /// <summary>prompt_lookup_max: longest suffix n-gram looked up.</summary>
    public int PromptLookupMax { get; init; } = DefaultPromptLookup;
    /// <summary>prompt_lookup_min: shortest suffix n-gram looked up.</summary>
    public int PromptLookupMin { get; init; } = DefaultPromptLookup;
    /// <summary>
    /// adaptive_k (Loom's key, off by default as in vLLM): each request's number of drafts shrinks by one after a
    /// rejection and grows by one after a full accept, between 1 and num_speculative_tokens.
    /// </summary>
    public bool AdaptiveK { get; init; }
    /// <summary>disable_by_batch_size: with at least this many requests in a step, no drafts are proposed; null = never off.</summary>
    public int? DisableByBatchSize { get; init; }

    private static readonly string[] Keys =
        ["method", "num_speculative_tokens", "prompt_lookup_max", "prompt_lookup_min", "disable_by_batch_size", "model", "quantization", "adaptive_k"];

    /// <summary>
    /// Parses the JSON object of <c>--speculative-config</c> with vLLM's keys and defaults (either prompt_lookup bound
    /// defaults to the other, both to 5). Throws <see cref="ArgumentException"/> naming the key for anything else.
    /// </summary>
    public static SpeculativeConfig Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        using var doc = ParseDocument(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new ArgumentException($"--speculative-config must be a JSON object, got {root.ValueKind.ToString().ToLowerInvariant()}.", "speculative_config");
        foreach (var property in root.EnumerateObject())
            if (Array.IndexOf(Keys, property.Name) < 0)
                throw new ArgumentException($"--speculative-config: unknown key '{property.Name}' (known: {string.Join(", ", Keys)}).", property.Name);

        string method = root.TryGetProperty("method", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()!
            : throw new ArgumentException("--speculative-config: \"method\" is required (a string: \"ngram\" or \"draft_model\").", "method");
        return method switch
        {
            "ngram" => ParseNgram(root),
            DraftModelMethod => ParseDraftModel(root),
            _ => throw new ArgumentException($"--speculative-config: unknown method \"{method}\" (supported: \"ngram\", \"draft_model\").", "method"),
        };
    }

    private static SpeculativeConfig ParseNgram(JsonElement root)
    {
        RefuseKeys(root, "ngram", "model", "quantization");
        int k = RequiredK(root, "ngram");
        int? max = Int(root, "prompt_lookup_max"), min = Int(root, "prompt_lookup_min");
        return new SpeculativeConfig
        {
            Method = "ngram",
            NumSpeculativeTokens = k,
            PromptLookupMax = max ?? min ?? DefaultPromptLookup,
            PromptLookupMin = min ?? max ?? DefaultPromptLookup,
            DisableByBatchSize = Int(root, "disable_by_batch_size"),
            AdaptiveK = Bool(root, "adaptive_k"),
        }.Validate();
    }

    private static SpeculativeConfig ParseDraftModel(JsonElement root)
    {
        RefuseKeys(root, DraftModelMethod, "prompt_lookup_max", "prompt_lookup_min");
        string model = root.TryGetProperty("model", out var path) && path.ValueKind == JsonValueKind.String && path.GetString() is { Length: > 0 } p ? p
            : throw new ArgumentException("--speculative-config: \"model\" (the draft checkpoint's path) is required for method \"draft_model\".", "model");
        string? quantization = null;
        if (root.TryGetProperty("quantization", out var q) && q.ValueKind != JsonValueKind.Null)
            quantization = q.ValueKind == JsonValueKind.String ? q.GetString()!.ToLowerInvariant()
                : throw new ArgumentException($"--speculative-config: \"quantization\" must be a string (\"q8_0\" or \"q4_0\"), got {q.GetRawText()}.", "quantization");
        return new SpeculativeConfig
        {
            Method = DraftModelMethod,
            Model = model,
            Quantization = quantization,
            NumSpeculativeTokens = RequiredK(root, DraftModelMethod),
            DisableByBatchSize = Int(root, "disable_by_batch_size"),
            AdaptiveK = Bool(root, "adaptive_k"),
        }.Validate();
    }

    private static int RequiredK(JsonElement root, string method) => Int(root, "num_speculative_tokens") ?? throw new ArgumentException(
        $"--speculative-config: \"num_speculative_tokens\" is required for method \"{method}\".", "num_speculative_tokens");

    /// <summary>Keys of the other method are refused rather than ignored.</summary>
    private static void RefuseKeys(JsonElement root, string method, params string[] keys)
    {
        foreach (var key in keys)
            if (root.TryGetProperty(key, out _))
                throw new ArgumentException($"--speculative-config: \"{key}\" does not apply to method \"{method}\".", key);
    }

    /// <summary>Checks the ranges (also for a config built in code); returns itself.</summary>
    public SpeculativeConfig Validate()
    {
        Check(NumSpeculativeTokens is >= 1 and <= 64, "num_speculative_tokens", $"num_speculative_tokens must be in [1, 64], got {NumSpeculativeTokens}.");
        Check(PromptLookupMin >= 1, "prompt_lookup_min", $"prompt_lookup_min must be at least 1, got {PromptLookupMin}.");
        Check(PromptLookupMax >= PromptLookupMin, "prompt_lookup_max",
            $"prompt_lookup_max ({PromptLookupMax}) must be at least prompt_lookup_min ({PromptLookupMin}).");
        Check(DisableByBatchSize is null or >= 1, "disable_by_batch_size", $"disable_by_batch_size must be at least 1, got {DisableByBatchSize}.");
        Check(Method is "ngram" or DraftModelMethod, "method", $"unknown method \"{Method}\" (supported: \"ngram\", \"draft_model\").");
        Check(IsDraftModel == Model is not null, "model", IsDraftModel ? "method \"draft_model\" needs \"model\"." : "\"model\" belongs to method \"draft_model\".");
        Check(Quantization is null or "q8_0" or "q4_0", "quantization", $"quantization must be \"q8_0\" or \"q4_0\", got \"{Quantization}\".");
        return this;
    }

    private static JsonDocument ParseDocument(string json)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"--speculative-config is not valid JSON: {e.Message}", "speculative_config", e);
        }
    }

    /// <summary>The integer under <paramref name="key"/>, null when absent or JSON null; anything else is an error.</summary>
    private static int? Int(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int n)) return n;
        throw new ArgumentException($"--speculative-config: \"{key}\" must be an integer, got {value.GetRawText()}.", key);
    }

    /// <summary>The boolean under <paramref name="key"/>, false when absent or JSON null; anything else is an error.</summary>
    private static bool Bool(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null) return false;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ArgumentException($"--speculative-config: \"{key}\" must be true or false, got {value.GetRawText()}.", key),
        };
    }

    private static void Check(bool ok, string key, string message)
    {
        if (!ok) throw new ArgumentException("--speculative-config: " + message, key);
    }
}
