using Loom.Models.Config;

namespace Loom.Models.Gguf;

/// <summary>
/// Builds a <see cref="ModelConfig"/> from GGUF metadata as llama.cpp names it ({arch}.embedding_length, ...) for the
/// llama, qwen2, qwen3 and phi3 architectures. Bias and tying are read from which tensors exist, as llama.cpp does.
/// </summary>
public static class GgufConfigReader
{
    /// <summary>GGUF architecture name to Hugging Face architecture.</summary>
    public static IReadOnlyDictionary<string, string> Architectures { get; } = new Dictionary<string, string>
    {
        ["llama"] = "LlamaForCausalLM",
        ["qwen2"] = "Qwen2ForCausalLM",
        ["qwen3"] = "Qwen3ForCausalLM",
        ["phi3"] = "Phi3ForCausalLM",
    };

    /// <summary>Keys Loom writes so that llama3 rope scaling round-trips exactly (llama.cpp keeps only rope_freqs).</summary>
    public const string LoomRopePrefix = "loom.rope_scaling.";
    /// <summary>The torch_dtype of the checkpoint a Loom-written GGUF came from.</summary>
    public const string LoomTorchDtype = "loom.torch_dtype";

    public static ModelConfig Read(GgufFile file)
    {
        var m = file.Metadata;
        string arch = m.RequiredString("general.architecture");
        if (!Architectures.TryGetValue(arch, out var hfArchitecture))
            throw new ModelLoadException($"{file.Path}: GGUF architecture '{arch}' is not supported. Supported: {string.Join(", ", Architectures.Keys)}.");
        int? window = m.Int($"{arch}.attention.sliding_window");
        // Mistral is stored as "llama"; a sliding window is what tells them apart.
        if (arch == "llama" && window != null) hfArchitecture = "MistralForCausalLM";
        string modelType = ModelConfigLoader.SupportedArchitectures[hfArchitecture];

        int hidden = m.RequiredPositiveInt($"{arch}.embedding_length");
        int heads = m.RequiredPositiveInt($"{arch}.attention.head_count");
        int kvHeads = m.Int($"{arch}.attention.head_count_kv") ?? heads;
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new ModelLoadException($"{file.Path}: head_count ({heads}) must be a positive multiple of head_count_kv ({kvHeads}).");
        int headDim = m.Int($"{arch}.attention.key_length") ?? hidden / heads;
        bool Has(string name) => file.TensorsByName.ContainsKey(name);
        bool fused = arch == "phi3";
        return new ModelConfig
        {
            Architecture = hfArchitecture,
            ModelType = modelType,
            VocabSize = VocabSize(file, arch),
            HiddenSize = hidden,
            IntermediateSize = m.RequiredPositiveInt($"{arch}.feed_forward_length"),
            NumHiddenLayers = m.RequiredPositiveInt($"{arch}.block_count"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEps = (float)(m.Double($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5),
            RopeTheta = m.Double($"{arch}.rope.freq_base") ?? 10000.0,
            RopeScaling = RopeScaling(file, arch, headDim),
            MaxPositionEmbeddings = m.Int($"{arch}.context_length") ?? 2048,
            SlidingWindow = window,
            AttentionBias = Has("blk.0.attn_q.bias") || Has("blk.0.attn_qkv.bias"),
            AttentionOutputBias = Has("blk.0.attn_output.bias"),
            MlpBias = Has("blk.0.ffn_down.bias"),
            QkNorm = Has("blk.0.attn_q_norm.weight"),
            FusedQkv = fused,
            FusedGateUp = fused,
            TieWordEmbeddings = !Has("output.weight"),
            BosTokenId = m.Int("tokenizer.ggml.bos_token_id"),
            EosTokenIds = EosIds(m),
            TorchDtype = m.String(LoomTorchDtype) ?? (file.TensorsByName.TryGetValue("token_embd.weight", out var embd) ? TorchDtype(embd.Type) : null),
        };
    }

    private static int VocabSize(GgufFile file, string arch)
    {
        if (file.Metadata.Int($"{arch}.vocab_size") is { } v) return v;
        if (file.TensorsByName.TryGetValue("token_embd.weight", out var embd) && embd.Dims.Length == 2) return checked((int)embd.Dims[1]);
        return file.Metadata.Array<string>("tokenizer.ggml.tokens")?.Length
            ?? throw new ModelLoadException($"{file.Path}: cannot tell the vocabulary size (no {arch}.vocab_size, token_embd.weight or tokenizer.ggml.tokens).");
    }

    private static IReadOnlyList<int> EosIds(GgufMetadata m)
    {
        var ids = new List<int>();
        foreach (var key in new[] { "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id" })
            if (m.Int(key) is { } id && !ids.Contains(id)) ids.Add(id);
        return ids;
    }

    private static string? TorchDtype(GgmlType type) => type switch
    {
        GgmlType.F32 => "float32", GgmlType.F16 => "float16", GgmlType.BF16 => "bfloat16", _ => null,
    };

    private static RopeScaling? RopeScaling(GgufFile file, string arch, int headDim)
    {
        var m = file.Metadata;
        if (m.String(LoomRopePrefix + "type") is { } loomType)
        {
            double Get(string k) => m.Double(LoomRopePrefix + k) ?? throw new ModelLoadException($"{file.Path}: {LoomRopePrefix}{k} is missing.");
            return loomType switch
            {
                "linear" => new RopeScaling("linear", Get("factor")),
                "llama3" => new RopeScaling("llama3", Get("factor"), Get("low_freq_factor"), Get("high_freq_factor"),
                    (int)Get("original_max_position_embeddings")),
                _ => throw new ModelLoadException($"{file.Path}: rope scaling type '{loomType}' is not supported."),
            };
        }
        if (file.TensorsByName.ContainsKey("rope_factors_long.weight"))
            throw new ModelLoadException($"{file.Path}: rope scaling type 'longrope' is not supported yet (supported: default, linear, llama3).");
        string type = m.String($"{arch}.rope.scaling.type") ?? "none";
        switch (type)
        {
            case "none":
                return file.TensorsByName.TryGetValue(GgufTensorNames.RopeFreqs, out var freqs)
                    ? Llama3FromRopeFreqs(file, freqs, m.Double($"{arch}.rope.freq_base") ?? 10000.0, headDim)
                    : null;
            case "linear":
                double factor = m.Double($"{arch}.rope.scaling.factor") ?? throw new ModelLoadException($"{file.Path}: linear rope scaling without {arch}.rope.scaling.factor.");
                return new RopeScaling("linear", factor);
            default:
                throw new ModelLoadException($"{file.Path}: rope scaling type '{type}' is not supported yet (supported: default, linear, llama3).");
        }
    }

    /// <summary>
    /// llama.cpp keeps llama3 scaling only as per-pair frequency divisors (rope_freqs). Recover the parameters assuming the
    /// published low/high frequency factors 1 and 4: the largest divisor is the factor, and a divisor in the smooth band
    /// (or, without one, the band's edges) fixes the original context length so that the same divisors result.
    /// </summary>
    private static unsafe RopeScaling? Llama3FromRopeFreqs(GgufFile file, GgufTensor tensor, double theta, int headDim)
    {
        if (tensor.Type != GgmlType.F32 || tensor.ElementCount != headDim / 2)
            throw new ModelLoadException($"{file.Path}: tensor '{tensor.Name}' must be F32 with {headDim / 2} values.");
        var divisors = new ReadOnlySpan<float>(tensor.Data, headDim / 2);
        double factor = 0;
        foreach (float d in divisors) factor = Math.Max(factor, d);
        if (factor <= 1) return null;
        const double Low = 1.0, High = 4.0;
        double lastUnscaledWavelength = 0, firstScaledWavelength = double.MaxValue;
        for (int i = 0; i < divisors.Length; i++)
        {
            double wavelength = 2 * Math.PI * Math.Pow(theta, 2.0 * i / headDim);
            double d = divisors[i];
            if (Math.Abs(d - 1) < 1e-6) lastUnscaledWavelength = wavelength;
            else if (Math.Abs(d - factor) < 1e-6 * factor) firstScaledWavelength = Math.Min(firstScaledWavelength, wavelength);
            else
            {
                double smooth = (1 / d - 1 / factor) / (1 - 1 / factor);
                return new RopeScaling("llama3", factor, Low, High, (int)Math.Round(wavelength * (smooth * (High - Low) + Low)));
            }
        }
        double original = firstScaledWavelength == double.MaxValue ? High * lastUnscaledWavelength * 2
            : (High * lastUnscaledWavelength + firstScaledWavelength * Low) / 2;
        return new RopeScaling("llama3", factor, Low, High, (int)Math.Round(original));
    }

    /// <summary>llama.cpp's rope_freqs values for a llama3 scaling (convert_hf_to_gguf's generate_extra_tensors).</summary>
    public static float[] Llama3RopeFreqs(RopeScaling scaling, double theta, int headDim)
    {
        var result = new float[headDim / 2];
        double original = scaling.OriginalMaxPositionEmbeddings ?? throw new ArgumentException("llama3 scaling needs the original context length.");
        double lowWavelength = original / scaling.LowFreqFactor, highWavelength = original / scaling.HighFreqFactor;
        for (int i = 0; i < result.Length; i++)
        {
            double freq = 1.0 / Math.Pow(theta, 2.0 * i / headDim);
            double wavelength = 2 * Math.PI / freq;
            if (wavelength < highWavelength) result[i] = 1f;
            else if (wavelength > lowWavelength) result[i] = (float)scaling.Factor;
            else
            {
                double smooth = (original / wavelength - scaling.LowFreqFactor) / (scaling.HighFreqFactor - scaling.LowFreqFactor);
                result[i] = (float)(1 / ((1 - smooth) / scaling.Factor + smooth));
            }
        }
        return result;
    }
}
