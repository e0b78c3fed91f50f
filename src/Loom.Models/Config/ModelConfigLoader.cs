namespace Loom.Models.Config;

/// <summary>
/// Reads a Hugging Face config.json into a <see cref="ModelConfig"/> for the supported decoder families
/// (Llama, Mistral, Qwen2, Qwen3, Phi-3), applying each family's transformers defaults for absent fields.
/// </summary>
public static class ModelConfigLoader
{
    public const string FileName = "config.json";

    /// <summary>Architectures this loader understands, with the model_type each one writes.</summary>
    public static IReadOnlyDictionary<string, string> SupportedArchitectures { get; } = new Dictionary<string, string>
    {
        ["LlamaForCausalLM"] = "llama",
        ["MistralForCausalLM"] = "mistral",
        ["Qwen2ForCausalLM"] = "qwen2",
        ["Qwen3ForCausalLM"] = "qwen3",
        ["Phi3ForCausalLM"] = "phi3",
    };

    public static ModelConfig Load(string modelDir)
    {
        string path = Path.Combine(modelDir, FileName);
        if (!Directory.Exists(modelDir)) throw new ModelLoadException($"Model directory not found: {modelDir}");
        if (!Path.Exists(path)) throw new ModelLoadException($"No {FileName} in {modelDir}: is this a Hugging Face model directory?");
        using var doc = ConfigJson.Parse(path);
        if (doc.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object)
            throw new ModelLoadException($"{path}: expected a JSON object at the top level.");
        return Parse(new ConfigJson(doc.RootElement, path));
    }

    /// <summary>Parses config.json text; <paramref name="source"/> names it in error messages.</summary>
    public static ModelConfig FromJson(string json, string source = FileName)
    {
        System.Text.Json.JsonDocument doc;
        try { doc = System.Text.Json.JsonDocument.Parse(json); }
        catch (System.Text.Json.JsonException e) { throw new ModelLoadException($"{source} is not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object)
                throw new ModelLoadException($"{source}: expected a JSON object at the top level.");
            return Parse(new ConfigJson(doc.RootElement, source));
        }
    }

    private static ModelConfig Parse(ConfigJson json)
    {
        var (architecture, modelType) = ReadArchitecture(json);
        int hidden = json.RequiredPositiveInt("hidden_size");
        int heads = json.RequiredPositiveInt("num_attention_heads");
        int kvHeads = json.Int("num_key_value_heads") ?? heads;
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new ModelLoadException($"{json.File}: num_attention_heads ({heads}) must be a positive multiple of num_key_value_heads ({kvHeads}).");
        int headDim = json.Int("head_dim") ?? DefaultHeadDim(json, hidden, heads);
        if (headDim <= 0 || headDim % 2 != 0)
            throw new ModelLoadException($"{json.File}: head_dim must be a positive even number, got {headDim}.");
        string act = json.String("hidden_act") ?? "silu";
        if (act is not ("silu" or "swish"))
            throw new ModelLoadException($"{json.File}: hidden_act '{act}' is not supported (only silu).");

        bool llamaBias = modelType is "llama" or "qwen3" && (json.Bool("attention_bias") ?? false);
        var eos = json.IntOrList("eos_token_id");
        return new ModelConfig
        {
            Architecture = architecture,
            ModelType = modelType,
            VocabSize = json.RequiredPositiveInt("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = json.RequiredPositiveInt("intermediate_size"),
            NumHiddenLayers = json.RequiredPositiveInt("num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEps = (float)(json.Double("rms_norm_eps") ?? (modelType == "phi3" ? 1e-5 : 1e-6)),
            RopeTheta = ReadRopeTheta(json),
            RopeScaling = ReadRopeScaling(json),
            MaxPositionEmbeddings = json.Int("max_position_embeddings") ?? DefaultMaxPositions(modelType),
            SlidingWindow = ReadSlidingWindow(json, modelType),
            // Qwen2 always has q/k/v bias and no o_proj bias; Llama/Qwen3 attention_bias puts a bias on all four.
            AttentionBias = modelType == "qwen2" || llamaBias,
            AttentionOutputBias = llamaBias,
            MlpBias = modelType == "llama" && (json.Bool("mlp_bias") ?? false),
            QkNorm = modelType == "qwen3",
            FusedQkv = modelType == "phi3",
            FusedGateUp = modelType == "phi3",
            TieWordEmbeddings = json.Bool("tie_word_embeddings") ?? false,
            BosTokenId = json.Int("bos_token_id"),
            EosTokenIds = eos,
            TorchDtype = json.String("torch_dtype") ?? json.String("dtype"),
        };
    }

    private static (string Architecture, string ModelType) ReadArchitecture(ConfigJson json)
    {
        string? modelType = json.String("model_type");
        string? architecture = null;
        if (json.TryGet("architectures", out var archs))
        {
            if (archs.ValueKind != System.Text.Json.JsonValueKind.Array || archs.GetArrayLength() == 0
                || archs[0].ValueKind != System.Text.Json.JsonValueKind.String)
                throw new ModelLoadException($"{json.File}: 'architectures' must be a non-empty list of names.");
            architecture = archs[0].GetString()!;
        }
        architecture ??= SupportedArchitectures.FirstOrDefault(kv => kv.Value == modelType).Key;
        string supported = string.Join(", ", SupportedArchitectures.Keys);
        if (architecture == null)
            throw new ModelLoadException($"{json.File}: no 'architectures' and unknown model_type '{modelType}'. Supported: {supported}.");
        if (!SupportedArchitectures.TryGetValue(architecture, out var expectedType))
            throw new ModelLoadException($"{json.File}: architecture '{architecture}' is not supported. Supported: {supported}.");
        return (architecture, expectedType);
    }

    private static int DefaultHeadDim(ConfigJson json, int hidden, int heads)
    {
        if (hidden % heads != 0)
            throw new ModelLoadException($"{json.File}: hidden_size ({hidden}) is not divisible by num_attention_heads ({heads}) and no head_dim is given.");
        return hidden / heads;
    }

    private static int DefaultMaxPositions(string modelType) => modelType switch
    {
        "mistral" => 4096 * 32,
        "qwen2" or "qwen3" => 32768,
        "phi3" => 4096,
        _ => 2048,
    };

    /// <summary>rope_theta at the top level (transformers 4) or inside rope_parameters (transformers 5).</summary>
    private static double ReadRopeTheta(ConfigJson json)
    {
        double? theta = json.Double("rope_theta") ?? json.Object("rope_parameters")?.Double("rope_theta");
        if (theta is { } t && t <= 0) throw new ModelLoadException($"{json.File}: rope_theta must be positive, got {t}.");
        return theta ?? 10000.0;
    }

    /// <summary>
    /// rope_scaling (or the scaling keys of rope_parameters). Type "default" yields null: plain RoPE.
    /// </summary>
    private static RopeScaling? ReadRopeScaling(ConfigJson json)
    {
        ConfigJson? scaling = json.Object("rope_scaling") ?? json.Object("rope_parameters");
        if (scaling is not { } s) return null;
        string type = s.String("rope_type") ?? s.String("type") ?? "default";
        switch (type)
        {
            case "default":
                return null;
            case "linear":
                return new RopeScaling("linear", Factor: RequiredFactor(s, type));
            case "llama3":
                int original = s.Int("original_max_position_embeddings")
                    ?? throw new ModelLoadException($"{s.File}: rope type 'llama3' needs original_max_position_embeddings.");
                double low = s.Double("low_freq_factor") ?? 1.0, high = s.Double("high_freq_factor") ?? 4.0;
                if (original <= 0 || low <= 0 || high <= low)
                    throw new ModelLoadException($"{s.File}: llama3 rope scaling needs original_max_position_embeddings > 0 and 0 < low_freq_factor < high_freq_factor.");
                return new RopeScaling("llama3", RequiredFactor(s, type), low, high, original);
            default:
                throw new ModelLoadException($"{s.File}: rope scaling type '{type}' is not supported yet (supported: default, linear, llama3).");
        }
    }

    private static double RequiredFactor(ConfigJson s, string type)
    {
        double factor = s.Double("factor") ?? throw new ModelLoadException($"{s.File}: rope type '{type}' needs a 'factor'.");
        if (factor <= 0) throw new ModelLoadException($"{s.File}: rope scaling factor must be positive, got {factor}.");
        return factor;
    }

    /// <summary>
    /// Mistral and Phi-3 use sliding_window as given. Qwen2/Qwen3 apply it only when use_sliding_window is true, and then
    /// only to layers from max_window_layers on; a mix of full and windowed layers is not supported.
    /// </summary>
    private static int? ReadSlidingWindow(ConfigJson json, string modelType)
    {
        if (modelType == "llama") return null;
        int? window = json.Int("sliding_window");
        if (modelType is "qwen2" or "qwen3")
        {
            if (!(json.Bool("use_sliding_window") ?? false) || window == null) return null;
            int layers = json.RequiredPositiveInt("num_hidden_layers");
            int firstWindowed = json.Int("max_window_layers") ?? 28;
            if (firstWindowed >= layers) return null;
            if (firstWindowed > 0)
                throw new ModelLoadException($"{json.File}: sliding window on only some layers (max_window_layers={firstWindowed} of {layers}) is not supported.");
        }
        if (window is { } w && w <= 0) throw new ModelLoadException($"{json.File}: sliding_window must be positive, got {w}.");
        return window;
    }
}
