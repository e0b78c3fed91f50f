using Loom.Models.Config;

namespace Loom.Backends.Cpu.Kernels;

/// <summary>
/// Rotary position embedding in the Hugging Face rotate_half convention: element i of a head pairs with element
/// i + headDim/2. cos/sin are precomputed per position (as transformers does, the angle is an fp32 product of the fp32
/// inverse frequency and the position) and the table grows on demand for positions past its end.
/// </summary>
internal sealed class RopeTable
{
    private readonly float[] _inverseFrequencies; // [headDim / 2]
    private float[] _cos = []; // [numPositions, headDim / 2]
    private float[] _sin = []; // [numPositions, headDim / 2]

    public RopeTable(ModelConfig config, int initialPositions)
    {
        _inverseFrequencies = InverseFrequencies(config);
        EnsurePositions(initialPositions);
    }

    public int HeadDim => _inverseFrequencies.Length * 2;
    public int NumPositions { get; private set; }
    public ReadOnlySpan<float> InverseFrequenciesSpan => _inverseFrequencies;

    /// <summary>
    /// inv_freq as transformers computes it for rope types default, linear and llama3, including one quirk: a model
    /// loaded in its checkpoint dtype casts the inv_freq buffer to that dtype, so a bf16/f16 checkpoint rotates with
    /// inv_freq rounded to bf16/f16 (the golden fixtures show it: without the rounding, logits drift with position).
    /// </summary>
    public static float[] InverseFrequencies(ModelConfig config)
    {
        int dim = config.HeadDim;
        if (dim % 2 != 0) throw new NotSupportedException($"head_dim {dim} is odd; rotary embedding needs an even head_dim.");
        var inv = new double[dim / 2];
        for (int i = 0; i < inv.Length; i++)
            inv[i] = 1.0 / Math.Pow(config.RopeTheta, (double)(2 * i) / dim);

        var scaling = config.RopeScaling;
        switch (scaling?.Type ?? "default")
        {
            case "default":
                break;
            case "linear":
                for (int i = 0; i < inv.Length; i++) inv[i] /= scaling!.Factor;
                break;
            case "llama3":
                ApplyLlama3(inv, scaling!);
                break;
            default:
                throw new NotSupportedException($"rope_scaling type '{scaling!.Type}' is not supported (default, linear, llama3 are).");
        }
        return Array.ConvertAll(inv, v => RoundToCheckpointDtype((float)v, config.TorchDtype));
    }

    /// <summary>Round-to-nearest-even to bfloat16 or float16 when the checkpoint is stored that way, as torch's cast does.</summary>
    internal static float RoundToCheckpointDtype(float value, string? torchDtype) => torchDtype switch
    {
        "bfloat16" => RoundToBFloat16(value),
        "float16" => (float)(Half)value,
        _ => value,
    };

    private static float RoundToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return BitConverter.UInt32BitsToSingle((bits + roundingBias) & 0xFFFF0000u);
    }

    /// <summary>transformers' _compute_llama3_parameters: long wavelengths divided by factor, short ones kept, a smooth blend between.</summary>
    private static void ApplyLlama3(double[] inv, RopeScaling s)
    {
        double oldContext = s.OriginalMaxPositionEmbeddings
            ?? throw new NotSupportedException("rope_scaling type 'llama3' needs original_max_position_embeddings.");
        double lowFreqWavelen = oldContext / s.LowFreqFactor;
        double highFreqWavelen = oldContext / s.HighFreqFactor;
        for (int i = 0; i < inv.Length; i++)
        {
            double wavelen = 2 * Math.PI / inv[i];
            if (wavelen > lowFreqWavelen)
                inv[i] /= s.Factor;
            else if (wavelen >= highFreqWavelen)
            {
                double smooth = (oldContext / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                inv[i] = (1 - smooth) * inv[i] / s.Factor + smooth * inv[i];
            }
        }
    }

    /// <summary>Makes positions [0, count) available (allocates only when the table must grow).</summary>
    public void EnsurePositions(int count)
    {
        if (count <= NumPositions) return;
        int newCount = Math.Max(count, NumPositions * 2);
        int half = _inverseFrequencies.Length;
        var cos = new float[(long)newCount * half];
        var sin = new float[(long)newCount * half];
        for (int p = 0; p < newCount; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = _inverseFrequencies[i] * p;
                cos[p * half + i] = (float)Math.Cos(angle);
                sin[p * half + i] = (float)Math.Sin(angle);
            }
        _cos = cos;
        _sin = sin;
        NumPositions = newCount;
    }

    /// <summary>Rotates every head of one token's row [numHeads, headDim] in place for position <paramref name="position"/>.</summary>
    public void Apply(Span<float> row, int numHeads, int position)
    {
        int half = _inverseFrequencies.Length;
        var cos = _cos.AsSpan(position * half, half);
        var sin = _sin.AsSpan(position * half, half);
        for (int h = 0; h < numHeads; h++)
        {
            var head = row.Slice(h * 2 * half, 2 * half);
            var lo = head[..half];
            var hi = head[half..];
            for (int i = 0; i < half; i++)
            {
                float a = lo[i], b = hi[i];
                lo[i] = a * cos[i] - b * sin[i];
                hi[i] = b * cos[i] + a * sin[i];
            }
        }
    }
}
