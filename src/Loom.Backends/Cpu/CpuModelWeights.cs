using Loom.Backends.Cpu.Kernels;
using Loom.Models;
using Loom.Models.Config;
using Loom.Models.Weights;

namespace Loom.Backends.Cpu;

/// <summary>One decoder layer's weights: large matrices stay in the weight source; norms and biases are small fp32 copies.</summary>
internal sealed class CpuLayerWeights
{
    public required float[] InputNorm { get; init; }         // [hidden]
    public required CpuLinear Q { get; init; }                // [numHeads * headDim, hidden]
    public required CpuLinear K { get; init; }                // [numKvHeads * headDim, hidden]
    public required CpuLinear V { get; init; }                // [numKvHeads * headDim, hidden]
    public float[]? QNorm { get; init; }                      // [headDim] (Qwen3)
    public float[]? KNorm { get; init; }                      // [headDim] (Qwen3)
    public required CpuLinear O { get; init; }                // [hidden, numHeads * headDim]
    public required float[] PostAttentionNorm { get; init; } // [hidden]
    public required CpuLinear Gate { get; init; }             // [intermediate, hidden]
    public required CpuLinear Up { get; init; }               // [intermediate, hidden]
    public required CpuLinear Down { get; init; }             // [hidden, intermediate]
}

/// <summary>
/// The model's weights for the CPU forward, bound by Hugging Face names. Every family is the same layer with flags:
/// Qwen2 biases, Qwen3 q/k norms, Phi-3 fused qkv_proj/gate_up_proj (split by rows: q, k, v; gate, up), tied embeddings.
/// </summary>
internal sealed class CpuModelWeights
{
    public required TensorInfo Embedding { get; init; }   // [vocab, hidden], stored dtype
    public required CpuLayerWeights[] Layers { get; init; }
    public required float[] FinalNorm { get; init; }      // [hidden]
    public required CpuLinear LmHead { get; init; }       // [vocab, hidden]

    /// <summary>Bytes of weights one decode token streams (all layer matrices plus the lm_head; one embedding row is negligible).</summary>
    public long WeightBytesPerToken()
    {
        long total = LmHead.WeightBytes;
        foreach (var l in Layers)
            total += l.Q.WeightBytes + l.K.WeightBytes + l.V.WeightBytes + l.O.WeightBytes
                   + l.Gate.WeightBytes + l.Up.WeightBytes + l.Down.WeightBytes;
        return total;
    }

    public static CpuModelWeights Load(ModelConfig config, IWeightSource source, IProgress<double>? progress)
    {
        var binder = new WeightBinder(config, source);
        var embedding = binder.Tensor("model.embed_tokens.weight", config.VocabSize, config.HiddenSize);
        var layers = new CpuLayerWeights[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            layers[i] = binder.Layer(i);
            progress?.Report((i + 1.0) / (layers.Length + 1));
        }
        var lmHead = config.TieWordEmbeddings
            ? CpuLinear.Create(embedding)
            : binder.Linear("lm_head.weight", config.VocabSize, config.HiddenSize, bias: false);
        var weights = new CpuModelWeights
        {
            Embedding = embedding,
            Layers = layers,
            FinalNorm = binder.Vector("model.norm.weight", config.HiddenSize),
            LmHead = lmHead,
        };
        progress?.Report(1.0);
        return weights;
    }

    /// <summary>Looks tensors up by name and checks their shapes against the config, naming the tensor on mismatch.</summary>
    private sealed class WeightBinder(ModelConfig config, IWeightSource source)
    {
        public CpuLayerWeights Layer(int i)
        {
            string p = $"model.layers.{i}.";
            int hidden = config.HiddenSize, q = config.QSize, kv = config.KvSize, inter = config.IntermediateSize;
            CpuLinear qProj, kProj, vProj, gate, up;
            if (config.FusedQkv)
            {
                string name = p + "self_attn.qkv_proj.weight";
                var fused = Tensor(name, q + 2 * kv, hidden);
                var bias = config.AttentionBias ? Tensor(p + "self_attn.qkv_proj.bias", q + 2 * kv) : null;
                qProj = CpuLinear.Create(fused, bias, 0, q);
                kProj = CpuLinear.Create(fused, bias, q, kv);
                vProj = CpuLinear.Create(fused, bias, q + kv, kv);
            }
            else
            {
                qProj = Linear(p + "self_attn.q_proj.weight", q, hidden, config.AttentionBias);
                kProj = Linear(p + "self_attn.k_proj.weight", kv, hidden, config.AttentionBias);
                vProj = Linear(p + "self_attn.v_proj.weight", kv, hidden, config.AttentionBias);
            }
            if (config.FusedGateUp)
            {
                var fused = Tensor(p + "mlp.gate_up_proj.weight", 2 * inter, hidden);
                var bias = config.MlpBias ? Tensor(p + "mlp.gate_up_proj.bias", 2 * inter) : null;
                gate = CpuLinear.Create(fused, bias, 0, inter);
                up = CpuLinear.Create(fused, bias, inter, inter);
            }
            else
            {
                gate = Linear(p + "mlp.gate_proj.weight", inter, hidden, config.MlpBias);
                up = Linear(p + "mlp.up_proj.weight", inter, hidden, config.MlpBias);
            }
            return new CpuLayerWeights
            {
                InputNorm = Vector(p + "input_layernorm.weight", hidden),
                Q = qProj,
                K = kProj,
                V = vProj,
                QNorm = config.QkNorm ? Vector(p + "self_attn.q_norm.weight", config.HeadDim) : null,
                KNorm = config.QkNorm ? Vector(p + "self_attn.k_norm.weight", config.HeadDim) : null,
                O = Linear(p + "self_attn.o_proj.weight", hidden, q, config.AttentionOutputBias),
                PostAttentionNorm = Vector(p + "post_attention_layernorm.weight", hidden),
                Gate = gate,
                Up = up,
                Down = Linear(p + "mlp.down_proj.weight", hidden, inter, config.MlpBias),
            };
        }

        public CpuLinear Linear(string weightName, int outFeatures, int inFeatures, bool bias)
        {
            var weight = Tensor(weightName, outFeatures, inFeatures);
            var biasTensor = bias ? Tensor(weightName[..^".weight".Length] + ".bias", outFeatures) : null;
            return Wrap(weightName, () => CpuLinear.Create(weight, biasTensor));
        }

        public float[] Vector(string name, int length) => Wrap(name, () => WeightConversion.ToFloatVector(Tensor(name, length)));

        public TensorInfo Tensor(string name, params long[] shape)
        {
            if (!source.Tensors.TryGetValue(name, out var tensor))
                throw LoadError($"The checkpoint has no tensor {name}, which {config.Architecture} needs.");
            if (!tensor.Shape.AsSpan().SequenceEqual(shape))
                throw LoadError($"Tensor {name} in {tensor.File} has shape [{string.Join(", ", tensor.Shape)}]; "
                    + $"config.json implies [{string.Join(", ", shape)}].");
            if (tensor.DType is not (DType.F32 or DType.F16 or DType.BF16) && !Quantized.QuantizedLinear.HasKernel(tensor.DType))
                throw LoadError($"Tensor {name} in {tensor.File} has dtype {tensor.DType}; weights must be F32, F16, BF16, "
                    + "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q4_K, Q5_K or Q6_K.");
            return tensor;
        }

        private static T Wrap<T>(string name, Func<T> bind)
        {
            try { return bind(); }
            catch (ArgumentException e) { throw LoadError($"Cannot use tensor {name}: {e.Message}", e); }
        }

        private static ModelLoadException LoadError(string message, Exception? inner = null) =>
            inner == null ? new ModelLoadException(message) : new ModelLoadException(message, inner);
    }
}
