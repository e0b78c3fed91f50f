using Loom.Models.Config;

namespace Loom.Models.Weights;

/// <summary>A tensor a config requires: its Hugging Face name and shape (PyTorch order). Norm weights start at 1.</summary>
public sealed record ExpectedTensor(string Name, long[] Shape, bool IsNorm);

/// <summary>
/// The Hugging Face tensor names of the supported decoder families and the set a given config requires, with a check
/// that a weight source holds exactly that set (ignoring rotary inv_freq buffers) in the right shapes.
/// </summary>
public static class WeightNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public const string InputNorm = "input_layernorm.weight";
    public const string PostAttentionNorm = "post_attention_layernorm.weight";
    public const string QProj = "self_attn.q_proj";
    public const string KProj = "self_attn.k_proj";
    public const string VProj = "self_attn.v_proj";
    public const string OProj = "self_attn.o_proj";
    public const string QkvProj = "self_attn.qkv_proj";
    public const string QNorm = "self_attn.q_norm.weight";
    public const string KNorm = "self_attn.k_norm.weight";
    public const string GateProj = "mlp.gate_proj";
    public const string UpProj = "mlp.up_proj";
    public const string GateUpProj = "mlp.gate_up_proj";
    public const string DownProj = "mlp.down_proj";

    /// <summary>"model.layers.{layer}.{suffix}", e.g. Layer(3, QProj + ".weight").</summary>
    public static string Layer(int layer, string suffix) => $"model.layers.{layer}.{suffix}";

    /// <summary>The tensors <paramref name="config"/> requires, in layer order.</summary>
    public static IReadOnlyList<ExpectedTensor> Expected(ModelConfig config)
    {
        long h = config.HiddenSize, inter = config.IntermediateSize, q = config.QSize, kv = config.KvSize;
        var list = new List<ExpectedTensor> { new(Embedding, [config.VocabSize, h], false) };
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            void Add(string suffix, long[] shape, bool isNorm = false) => list.Add(new(Layer(i, suffix), shape, isNorm));
            void Linear(string proj, long outFeatures, long inFeatures, bool bias)
            {
                Add(proj + ".weight", [outFeatures, inFeatures]);
                if (bias) Add(proj + ".bias", [outFeatures]);
            }

            Add(InputNorm, [h], isNorm: true);
            if (config.FusedQkv) Linear(QkvProj, q + 2 * kv, h, config.AttentionBias);
            else
            {
                Linear(QProj, q, h, config.AttentionBias);
                Linear(KProj, kv, h, config.AttentionBias);
                Linear(VProj, kv, h, config.AttentionBias);
            }
            if (config.QkNorm)
            {
                Add(QNorm, [config.HeadDim], isNorm: true);
                Add(KNorm, [config.HeadDim], isNorm: true);
            }
            Linear(OProj, h, q, config.AttentionOutputBias);
            Add(PostAttentionNorm, [h], isNorm: true);
            if (config.FusedGateUp) Linear(GateUpProj, 2 * inter, h, config.MlpBias);
            else
            {
                Linear(GateProj, inter, h, config.MlpBias);
                Linear(UpProj, inter, h, config.MlpBias);
            }
            Linear(DownProj, h, inter, config.MlpBias);
        }
        list.Add(new(FinalNorm, [h], true));
        if (!config.TieWordEmbeddings) list.Add(new(LmHead, [config.VocabSize, h], false));
        return list;
    }

    /// <summary>Buffers that checkpoints sometimes carry but that are recomputed, not loaded.</summary>
    public static bool IsIgnored(string name) => name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal);

    /// <summary>Missing, unexpected, mis-shaped and non-float tensors, one line each (empty when the checkpoint fits).</summary>
    public static IReadOnlyList<string> FindProblems(IWeightSource weights, ModelConfig config)
    {
        var problems = new List<string>();
        var expected = Expected(config);
        var expectedNames = new HashSet<string>(expected.Select(e => e.Name), StringComparer.Ordinal);
        foreach (var e in expected)
        {
            if (!weights.Tensors.TryGetValue(e.Name, out var t)) { problems.Add($"missing tensor '{e.Name}' [{Dims(e.Shape)}]"); continue; }
            if (!t.Shape.AsSpan().SequenceEqual(e.Shape))
                problems.Add($"tensor '{e.Name}' has shape [{Dims(t.Shape)}], expected [{Dims(e.Shape)}] ({t.File})");
            if (!DTypes.IsFloatingPoint(t.DType) && !DTypes.IsQuantized(t.DType) || t.DType == DType.F64)
                problems.Add($"tensor '{e.Name}' has dtype {t.DType}; weights must be F32, F16, BF16 or a quantized type ({t.File})");
        }
        foreach (var name in weights.Tensors.Keys.Order(StringComparer.Ordinal))
            if (!expectedNames.Contains(name) && !IsIgnored(name))
                problems.Add($"unexpected tensor '{name}' ({weights.Tensors[name].File})");
        return problems;
    }

    /// <summary>Throws a <see cref="ModelLoadException"/> listing every problem <see cref="FindProblems"/> finds.</summary>
    public static void Validate(IWeightSource weights, ModelConfig config)
    {
        var problems = FindProblems(weights, config);
        if (problems.Count == 0) return;
        const int shown = 12;
        string list = string.Join(Environment.NewLine, problems.Take(shown).Select(p => "  " + p));
        if (problems.Count > shown) list += $"{Environment.NewLine}  ... and {problems.Count - shown} more";
        throw new ModelLoadException(
            $"The weights do not match the {config.Architecture} config ({problems.Count} problem(s)):{Environment.NewLine}{list}");
    }

    private static string Dims(long[] shape) => string.Join(",", shape);
}
