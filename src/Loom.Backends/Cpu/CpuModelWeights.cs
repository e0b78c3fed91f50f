using Loom.Backends.Cpu.Kernels;
using Loom.Models;
using Loom.Models.Definition;
using Loom.Models.Weights;

namespace Loom.Backends.Cpu;

/// <summary>One decoder layer's weights: large matrices stay in the weight source; norms and biases are small fp32 copies.</summary>
internal sealed class CpuLayerWeights
{
    public required float[] InputNorm { get; init; }         // [hidden]
    public required CpuLinear Q { get; init; }                // [numHeads * headDim, hidden]
    public required CpuLinear K { get; init; }                // [numKvHeads * headDim, hidden]
    public required CpuLinear V { get; init; }                // [numKvHeads * headDim, hidden]
    public float[]? QNorm { get; init; }                      // [headDim] (qk-norm families)
    public float[]? KNorm { get; init; }                      // [headDim] (qk-norm families)
    public required CpuLinear O { get; init; }                // [hidden, numHeads * headDim]
    public required float[] PostAttentionNorm { get; init; } // [hidden]
    public required CpuLinear Gate { get; init; }             // [intermediate, hidden]
    public required CpuLinear Up { get; init; }               // [intermediate, hidden]
    public required CpuLinear Down { get; init; }             // [hidden, intermediate]
}

/// <summary>
/// The model's weights for the CPU forward, bound through the <see cref="ModelDefinition"/>: each role's tensor is
/// looked up by its Hugging Face name, shape-checked, and wrapped as a CPU linear layer or an fp32 norm vector
/// (fused projections become row ranges of one tensor).
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

    /// <summary>The layers' F16 linear weights, which <see cref="F16Widening"/> may copy to fp32 (the lm_head is left out: a prompt reads one of its rows per sequence).</summary>
    public IEnumerable<InterleavedHalfLinear> F16LayerLinears() =>
        Layers.SelectMany(l => new[] { l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down })
            .OfType<InterleavedHalfLinear>().Where(l => l.WidenableBytes > 0);

    public static CpuModelWeights Load(ModelDefinition definition, IWeightSource source, IProgress<double>? progress)
    {
        var binder = new WeightBinder(definition, source);
        var embedding = binder.Tensor(definition.Embedding);
        var layers = new CpuLayerWeights[definition.Layers.Length];
        for (int i = 0; i < layers.Length; i++)
        {
            layers[i] = binder.Layer(definition.Layers[i]);
            progress?.Report((i + 1.0) / (layers.Length + 1));
        }
        var weights = new CpuModelWeights
        {
            Embedding = embedding,
            Layers = layers,
            FinalNorm = binder.Vector(definition.FinalNorm),
            LmHead = binder.Linear(definition.LmHead),
        };
        progress?.Report(1.0);
        return weights;
    }

    /// <summary>Looks tensors up by name and checks their shapes against the definition, naming the tensor on mismatch.</summary>
    private sealed class WeightBinder(ModelDefinition definition, IWeightSource source)
    {
        public CpuLayerWeights Layer(DecoderLayerDefinition layer) => new()
        {
            InputNorm = Vector(layer.InputNorm),
            Q = Linear(layer.Q),
            K = Linear(layer.K),
            V = Linear(layer.V),
            QNorm = layer.QNorm is { } qNorm ? Vector(qNorm) : null,
            KNorm = layer.KNorm is { } kNorm ? Vector(kNorm) : null,
            O = Linear(layer.O),
            PostAttentionNorm = Vector(layer.PostAttentionNorm),
            Gate = Linear(layer.Gate),
            Up = Linear(layer.Up),
            Down = Linear(layer.Down),
        };

        public CpuLinear Linear(LinearDefinition linear)
        {
            var weight = Tensor(linear.Weight);
            var bias = linear.Bias is { } b ? Tensor(b) : null;
            return Wrap(linear.Weight.Name, () => CpuLinear.Create(weight, bias, linear.RowOffset, linear.OutFeatures));
        }

        public float[] Vector(ModelTensor norm) => Wrap(norm.Name, () => WeightConversion.ToFloatVector(Tensor(norm)));

        public TensorInfo Tensor(ModelTensor expected)
        {
            string name = expected.Name;
            if (!source.Tensors.TryGetValue(name, out var tensor))
                throw LoadError($"The checkpoint has no tensor {name}, which {definition.Config.Architecture} needs.");
            if (!tensor.Shape.AsSpan().SequenceEqual(expected.Shape))
                throw LoadError($"Tensor {name} in {tensor.File} has shape [{string.Join(", ", tensor.Shape)}]; "
                    + $"config.json implies [{string.Join(", ", expected.Shape)}].");
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
